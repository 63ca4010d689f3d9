// Package version reports the version of the haredis binaries, set at link
// time by the Makefile.
package version

import (
	"fmt"

	"github.com/spf13/cobra"
)

// Version is overwritten with -ldflags "-X github.com/haredis/haredis/internal/version.Version=...".
var Version = "dev"

// Command is the `version` subcommand every haredis binary has.
func Command() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run:   func(cmd *cobra.Command, _ []string) { fmt.Fprintln(cmd.OutOrStdout(), Version) },
	}
}
