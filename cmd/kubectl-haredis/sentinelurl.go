package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/haredis/haredis/internal/plugin"
)

func newSentinelURLCommand(k *kube) *cobra.Command {
	var opts plugin.SentinelURLOptions
	var formats strings.Builder
	for _, f := range plugin.Formats() {
		fmt.Fprintf(&formats, "\n  %-14s %s", f.Name, f.Client)
	}
	cmd := &cobra.Command{
		Use:   "sentinel-url REDISFAILOVER --format FORMAT",
		Short: "Print the Sentinel connection in the form a client library wants",
		Long: `Print how a Sentinel-aware client library connects to a RedisFailover:
the sentinels, the master name and, where that library wants them, the
passwords (the sentinels require the same password as the instances).
Code reads the password from the environment variable REDIS_PASSWORD,
which the connection Secret NAME-connection provides; strings show it
hidden. --show-password writes the password itself.

Formats:` + formats.String(),
		Example: `  kubectl haredis sentinel-url app --format go-redis --show-password
  kubectl haredis sentinel-url app --format redis-py
  kubectl haredis sentinel-url app --format env -o json`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: k.completeRF,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := plugin.CheckOutput(opts.Output); err != nil {
				return err
			}
			if _, err := plugin.LookupFormat(opts.Format); err != nil {
				return err
			}
			c, ns, err := k.client()
			if err != nil {
				return err
			}
			return plugin.SentinelURL(cmd.Context(), c, streams(cmd), ns, args[0], opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Format, "format", "f", "", "the client library: "+strings.Join(plugin.FormatNames(), ", "))
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions(formatNames(), cobra.ShellCompDirectiveNoFileComp))
	cmd.Flags().BoolVar(&opts.ShowPassword, "show-password", false, "write the password itself (read from Secret NAME-connection)")
	addOutput(cmd, &opts.Output)
	return cmd
}

func formatNames() []string {
	var names []string
	for _, f := range plugin.Formats() {
		names = append(names, f.Name)
	}
	return names
}
