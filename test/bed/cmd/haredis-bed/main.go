// Command haredis-bed runs the test bed for people: `up` starts a local
// cluster whose pods are host processes, with a sample Redis; `down` removes
// it and everything it made; `status` shows it.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"

	"github.com/haredis/haredis/hack/bench/bed"
	"github.com/haredis/haredis/test/bed/demo"
)

func main() {
	if err := newRoot().Execute(); err != nil {
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "haredis-bed",
		Short:         "A local Kubernetes cluster whose pods run as host processes",
		SilenceUsage:  true,
		SilenceErrors: false,
	}
	var timeout time.Duration
	up := &cobra.Command{
		Use:   "up",
		Short: "Start the bed in the background with a sample Redis, prove it answers, print how to use it",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			out := cmd.OutOrStdout()
			fmt.Fprintln(out, "starting the test bed (control plane, 3 nodes, kube-proxy, CoreDNS, storage) ...")
			began := time.Now()
			info, err := demo.Up(ctx, out, timeout)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "bed up in %.1fs\n", time.Since(began).Seconds())
			if err := demo.Prove(ctx, out, info); err != nil {
				return err
			}
			demo.PrintUsage(out, info)
			return nil
		},
	}
	up.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long to wait for the bed")
	down := &cobra.Command{
		Use:   "down",
		Short: "Stop the bed and remove every process, namespace, link, rule and mount it made (also after a crash)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return demo.Down(cmd.Context(), cmd.OutOrStdout())
		},
	}
	status := &cobra.Command{
		Use:   "status",
		Short: "Show the running bed's nodes, pods and Services",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return demo.Status(cmd.Context(), cmd.OutOrStdout())
		},
	}
	var logPath string
	serve := &cobra.Command{
		Use:    "serve",
		Short:  "Run the bed in the foreground (what `up` starts in the background)",
		Hidden: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := logr.FromSlogHandler(slog.NewTextHandler(os.Stderr, nil))
			return demo.Serve(context.Background(), log, logPath)
		},
	}
	serve.Flags().StringVar(&logPath, "log", "", "where the daemon's log goes (for `status`)")
	var pods int
	benchCmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure cold and warm start of the bed and pod start latency",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 15*time.Minute)
			defer cancel()
			_, err := bench.Run(ctx, cmd.OutOrStdout(), pods, logr.Discard())
			return err
		},
	}
	benchCmd.Flags().IntVar(&pods, "pods", 20, "how many pods to start at once")
	root.AddCommand(up, down, status, serve, benchCmd)
	return root
}
