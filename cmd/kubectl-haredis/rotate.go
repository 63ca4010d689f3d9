package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/haredis/haredis/internal/plugin"
)

func newRotateCommand(k *kube) *cobra.Command {
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "rotate REDISFAILOVER",
		Short: "Rotate the application password in two phases, with no restart and no refused client",
		Long: `rotate puts a new generated password into Secret NAME-auth. The operator
adds it next to the previous one on every sentinel, instance and proxy,
switches NAME-connection to it once they all take it, and removes the
previous one after spec.auth.passwordGracePeriod (default 1h): restart or
reload your clients within that period. A RedisFailover whose password
comes from your own Secret (spec.auth.passwordSecret) rotates when you put
a new password into that Secret.`,
		Example: `  kubectl haredis rotate app
  kubectl haredis rotate app --wait 0`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: k.completeRF,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ns, err := k.client()
			if err != nil {
				return err
			}
			return plugin.Rotate(cmd.Context(), c, cmd.OutOrStdout(), ns, args[0], wait)
		},
	}
	cmd.Flags().DurationVar(&wait, "wait", 5*time.Minute, "how long to wait until NAME-connection holds the new password; 0 returns once it is asked for")
	return cmd
}
