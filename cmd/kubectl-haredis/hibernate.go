package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/haredis/haredis/internal/plugin"
)

func newHibernateCommand(k *kube) *cobra.Command {
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "hibernate on|off REDISFAILOVER",
		Short: "on: remove every pod of a RedisFailover and keep its volumes; off: wake it with its data",
		Long: `hibernate on sets spec.hibernate: the operator stops the proxies, then the
sentinels, then the instances (each gracefully, so it writes its data set to
its volume), and keeps the volumes, Services and Secrets. hibernate off
creates the pods again on their volumes; the instance with the newest data
becomes the primary, as after any restart of every pod. Both wait for the
outcome.`,
		Example: `  kubectl haredis hibernate on app
  kubectl haredis hibernate off app --wait 10m`,
		Args: cobra.ExactArgs(2),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
			if len(args) == 0 {
				return []string{"on", "off"}, cobra.ShellCompDirectiveNoFileComp
			}
			return k.completeRF(cmd, args[1:], prefix)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			var on bool
			switch args[0] {
			case "on":
				on = true
			case "off":
			default:
				return fmt.Errorf("hibernate %s: say on or off, e.g. kubectl haredis hibernate on %s", args[0], args[1])
			}
			c, ns, err := k.client()
			if err != nil {
				return err
			}
			return plugin.Hibernate(cmd.Context(), c, cmd.OutOrStdout(), ns, args[1], on, wait)
		},
	}
	cmd.Flags().DurationVar(&wait, "wait", 5*time.Minute, "how long to wait for the outcome; 0 returns once it is asked for")
	return cmd
}
