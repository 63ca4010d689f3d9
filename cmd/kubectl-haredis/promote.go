package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/haredis/haredis/internal/plugin"
)

func newPromoteCommand(k *kube) *cobra.Command {
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "promote REDISFAILOVER INSTANCE",
		Short: "Switch over: make INSTANCE (a ready replica) the primary without losing an acknowledged write",
		Example: `  kubectl haredis promote app app-2
  kubectl haredis promote app app-3 -n shop --wait 0   # ask and return at once`,
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: k.completeRFInstance(true),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ns, err := k.client()
			if err != nil {
				return err
			}
			return plugin.Promote(cmd.Context(), c, cmd.OutOrStdout(), ns, args[0], args[1], wait)
		},
	}
	cmd.Flags().DurationVar(&wait, "wait", 2*time.Minute, "how long to wait for the outcome; 0 returns once the switchover is asked for")
	return cmd
}
