// Command haredis is the one binary of haredis; its subcommands play each role
// (operator, instance manager, sentinel, proxy, import).
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/haredis/haredis/internal/version"
)

func main() {
	root := &cobra.Command{
		Use:           "haredis",
		Short:         "haredis runs highly available Redis on Kubernetes",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(version.Command())
	root.AddCommand(newInstanceCommand(), newSentinelCommand(), newOperatorCommand())
	root.AddCommand(newProxyCommand(), newImportCommand())
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "haredis:", err)
		os.Exit(1)
	}
}
