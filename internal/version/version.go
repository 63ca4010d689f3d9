// Package version reports the version of the haredis binaries, set at link
// time by the Makefile.
package version

// Version is overwritten with -ldflags "-X github.com/haredis/haredis/internal/version.Version=...".
var Version = "dev"
