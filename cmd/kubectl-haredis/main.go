// Command kubectl-haredis is the kubectl plugin of haredis (`kubectl haredis
// ...`). Verbs are added as the operator grows the status they read; the
// verbs themselves live in internal/plugin.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/haredis/haredis/internal/version"
)

func main() {
	root := &cobra.Command{
		Use:           "kubectl-haredis",
		Short:         "kubectl haredis: work with haredis RedisFailovers",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	k := bindKubeFlags(root)
	root.AddCommand(version.Command(), newPromoteCommand(k))
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "kubectl-haredis:", err)
		os.Exit(1)
	}
}
