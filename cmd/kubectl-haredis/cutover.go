package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/haredis/haredis/internal/plugin"
)

func newCutoverCommand(k *kube) *cobra.Command {
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "cutover REDISFAILOVER",
		Short: "End a live import: haredis's primary becomes the writer, REDIS_URL clients see a short pause",
		Long: `cutover asks for the cutover of a RedisFailover that imports from a running
Redis (spec.bootstrap.fromRedis): once its first instance is in sync, the
proxies hold their commands, the source's writes are held until the first
instance has every one of them, it becomes the primary and the proxies send
the held commands to it. Writes that reach the source directly afterwards
are not copied. It waits for the outcome; a cutover that did not happen
leaves the import running and says why.`,
		Example:           `  kubectl haredis cutover cache`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: k.completeRF,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ns, err := k.client()
			if err != nil {
				return err
			}
			return plugin.Cutover(cmd.Context(), c, cmd.OutOrStdout(), ns, args[0], wait)
		},
	}
	cmd.Flags().DurationVar(&wait, "wait", 2*time.Minute, "how long to wait for the outcome; 0 returns once it is asked for")
	return cmd
}
