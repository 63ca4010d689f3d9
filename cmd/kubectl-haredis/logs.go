package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/haredis/haredis/internal/plugin"
)

func newLogsCommand(k *kube) *cobra.Command {
	o := plugin.LogsOptions{Tail: -1}
	cmd := &cobra.Command{
		Use:   "logs REDISFAILOVER",
		Short: "The logs of every pod of a RedisFailover (instances, sentinels, proxies), each line prefixed",
		Long: `logs prints the logs of every container of the RedisFailover's pods, each line
prefixed with [POD/CONTAINER]. With -f it follows them all, and the pods and
container runs that start meanwhile (a restarted instance, a replaced
sentinel) join as they appear.`,
		Example: `  kubectl haredis logs app
  kubectl haredis logs app -f --tail 20
  kubectl haredis logs app --since 10m | grep -i failover
  kubectl haredis logs app --previous   # the run before each container's last restart`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: k.completeRF,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, cs, ns, err := k.clients()
			if err != nil {
				return err
			}
			return plugin.Logs(cmd.Context(), c, cs, ns, args[0], cmd.OutOrStdout(), o)
		},
	}
	cmd.Flags().BoolVarP(&o.Follow, "follow", "f", false, "follow the logs, and the pods that start meanwhile, until interrupted")
	cmd.Flags().Int64Var(&o.Tail, "tail", -1, "lines of each container to print first; -1 for all")
	cmd.Flags().DurationVar(&o.Since, "since", 0, "only lines younger than this, e.g. 10m")
	cmd.Flags().BoolVarP(&o.Previous, "previous", "p", false, "the previous run of each container (before its last restart)")
	cmd.Flags().BoolVar(&o.Timestamps, "timestamps", false, "prefix each line with its time")
	return cmd
}

func newReportCommand(k *kube) *cobra.Command {
	var file string
	o := plugin.ReportOptions{}
	cmd := &cobra.Command{
		Use:   "report REDISFAILOVER",
		Short: "A support bundle: objects, events, status and logs in one archive, secrets redacted",
		Long: `report writes a gzipped tar with what a support request needs: the
RedisFailover and its RedisBackups, every object haredis owns for it (Secrets
only by name and key sizes), the events about them, the status as
` + "`kubectl haredis status`" + ` prints it, and the logs of every container (the
previous run too) and of the operator. Every Secret value it can read, and
passwords in configuration lines and URLs, are replaced by <redacted>.`,
		Example: `  kubectl haredis report app
  kubectl haredis report app -f /tmp/app.tar.gz --operator-namespace haredis-system
  tar -tzf app-report-20261203T101500Z.tar.gz`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: k.completeRF,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, cs, ns, err := k.clients()
			if err != nil {
				return err
			}
			o.Now = time.Now().UTC()
			if file == "" {
				file = args[0] + "-report-" + o.Now.Format("20060102T150405Z") + ".tar.gz"
			}
			f, err := os.OpenFile(file, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
			if err != nil {
				return fmt.Errorf("cannot create the report file: %w (choose another with -f)", err)
			}
			sum, err := plugin.Report(cmd.Context(), c, cs, ns, args[0], f, o)
			if cerr := f.Close(); err == nil && cerr != nil {
				err = fmt.Errorf("cannot write the report file: %w", cerr)
			}
			if err != nil {
				_ = os.Remove(file)
				return err
			}
			st, _ := os.Stat(file)
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: %d files, %d bytes; %d secret values redacted\n", file, len(sum.Files), st.Size(), sum.Redacted)
			for _, m := range sum.Missing {
				fmt.Fprintf(cmd.ErrOrStderr(), "not included: %s\n", m)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "the archive to write (default REDISFAILOVER-report-TIME.tar.gz; never overwritten)")
	cmd.Flags().StringVar(&o.OperatorNamespace, "operator-namespace", "haredis-system", "where the operator runs, for its logs; empty to leave them out")
	cmd.Flags().Int64Var(&o.LogLines, "log-lines", 10000, "the last lines of each container's log to include")
	return cmd
}
