package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/haredis/haredis/internal/plugin"
)

func newFenceCommands(k *kube) []*cobra.Command {
	verb := func(on bool) *cobra.Command {
		var wait time.Duration
		cmd := &cobra.Command{
			Use:   "fence REDISFAILOVER",
			Short: "Refuse every write on purpose (reads, replication and Sentinel go on): for forensics or a controlled migration",
			Long: `fence sets spec.fenced: every instance refuses writes (clients get
NOREPLICAS) while the primary keeps serving reads through its Service, the
replicas keep replicating and Sentinel keeps watching; a failover keeps the
fence, and planned switchovers wait until it is lifted. It waits until the
primary runs with the fence. unfence lifts it.`,
			Example: `  kubectl haredis fence app
  kubectl haredis unfence app`,
			Args:              cobra.ExactArgs(1),
			ValidArgsFunction: k.completeRF,
			RunE: func(cmd *cobra.Command, args []string) error {
				c, ns, err := k.client()
				if err != nil {
					return err
				}
				return plugin.Fence(cmd.Context(), c, cmd.OutOrStdout(), ns, args[0], on, wait)
			},
		}
		if !on {
			cmd.Use = "unfence REDISFAILOVER"
			cmd.Short = "Lift the fence: the RedisFailover takes writes again"
			cmd.Example = "  kubectl haredis unfence app"
		}
		cmd.Flags().DurationVar(&wait, "wait", 2*time.Minute, "how long to wait for the outcome; 0 returns once it is asked for")
		return cmd
	}
	return []*cobra.Command{verb(true), verb(false)}
}
