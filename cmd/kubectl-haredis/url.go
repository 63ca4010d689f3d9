package main

import (
	"github.com/spf13/cobra"

	"github.com/haredis/haredis/internal/plugin"
)

func newURLCommand(k *kube) *cobra.Command {
	var opts plugin.URLOptions
	cmd := &cobra.Command{
		Use:   "url REDISFAILOVER",
		Short: "Print REDIS_URL, the one URL for every client (through the proxies)",
		Long: `Print REDIS_URL of a RedisFailover: the Service NAME, which reaches the
primary through the Sentinel-aware proxies (or directly when the proxy is
disabled). The password is hidden unless --show-password; --from-secret
prints a shell line that reads the URL from the connection Secret when it
runs, so that the password is neither on a command line nor in the shell's
history.`,
		Example: `  kubectl haredis url app
  kubectl haredis url app --show-password
  eval "$(kubectl haredis url app --from-secret)" && redis-cli -u "$REDIS_URL" ping
  kubectl haredis url app -o json`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: k.completeRF,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := plugin.CheckOutput(opts.Output); err != nil {
				return err
			}
			c, ns, err := k.client()
			if err != nil {
				return err
			}
			opts.Kubectl = k.kubectlFlags()
			return plugin.URL(cmd.Context(), c, streams(cmd), ns, args[0], opts)
		},
	}
	cmd.Flags().BoolVar(&opts.ShowPassword, "show-password", false, "print the password (read from Secret NAME-connection)")
	cmd.Flags().BoolVar(&opts.FromSecret, "from-secret", false, "print a shell line that exports REDIS_URL read from Secret NAME-connection at run time")
	cmd.MarkFlagsMutuallyExclusive("show-password", "from-secret")
	addOutput(cmd, &opts.Output)
	return cmd
}
