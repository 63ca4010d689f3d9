package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/haredis/haredis/internal/plugin"
)

func newStatusCommand(k *kube) *cobra.Command {
	var output, color string
	cmd := &cobra.Command{
		Use:   "status REDISFAILOVER",
		Short: "Show a verdict, the primary, every instance, sentinel and proxy, failovers and conditions",
		Example: `  kubectl haredis status app
  kubectl haredis status app -o json | jq .verdict`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: k.completeRF,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := plugin.CheckOutput(output); err != nil {
				return err
			}
			paint, err := colorful(color, cmd)
			if err != nil {
				return err
			}
			c, ns, err := k.client()
			if err != nil {
				return err
			}
			r, err := plugin.Status(cmd.Context(), c, ns, args[0])
			if err != nil {
				return err
			}
			if output != "" {
				return plugin.PrintData(cmd.OutOrStdout(), output, r)
			}
			plugin.PrintStatus(cmd.OutOrStdout(), r, paint, time.Now())
			return nil
		},
	}
	addOutput(cmd, &output)
	cmd.Flags().StringVar(&color, "color", "auto", "colour the text: auto (on a terminal), always or never")
	return cmd
}
