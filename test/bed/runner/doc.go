// Package runner starts a container's process on the host the way a
// container runtime would, minus images: inside the pod's network namespace,
// in a new mount and UTS namespace whose root mirrors the host's root with
// the pod's volumes bound at their mount paths, a private /tmp and the pod's
// resolv.conf and hosts files.
//
// The process is the running binary itself, re-executed: a program that
// links this package turns into the container's init when HAREDIS_BED_INIT
// is set (see init in init.go), builds the mount namespace, then execs the
// container's command so that the command keeps the init's PID.
package runner
