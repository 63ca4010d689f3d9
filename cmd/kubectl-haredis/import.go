package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/haredis/haredis/internal/plugin"
)

func newImportCommand(k *kube) *cobra.Command {
	var o plugin.ImportOptions
	var output string
	cmd := &cobra.Command{
		Use:   "import REDISFAILOVER FILE.rdb",
		Short: "Replay the keys of a local RDB file into a running RedisFailover, online",
		Long: `import streams an RDB file (from redis-cli --rdb, a BGSAVE, a managed
service's export; - for stdin) into the primary of a running RedisFailover
without replacing it: a pod of the RedisFailover's own image loads the file
and copies every key with DUMP and RESTORE, its TTL kept, through
NAME-primary, so the replicas follow and nothing restarts. Keys that exist
are kept (reported as skipped) unless --replace. A cut or corrupted file is
refused before any key is written.`,
		Example: `  redis-cli -h old-redis --rdb dump.rdb && kubectl haredis import app dump.rdb
  kubectl haredis import app dump.rdb --replace -o json
  gunzip -c dump.rdb.gz | kubectl haredis import app -`,
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: k.completeRF,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := plugin.CheckOutput(output); err != nil {
				return err
			}
			var in io.Reader = cmd.InOrStdin()
			if args[1] != "-" {
				f, err := os.Open(args[1])
				if err != nil {
					return fmt.Errorf("cannot open the RDB file: %w", err)
				}
				defer f.Close()
				in = f
			}
			c, cfg, _, ns, err := k.clients()
			if err != nil {
				return err
			}
			o.Progress = cmd.ErrOrStderr()
			rep, err := plugin.ImportRDB(cmd.Context(), c, cfg, ns, args[0], in, o)
			if rep != nil {
				if output != "" {
					if perr := plugin.PrintData(cmd.OutOrStdout(), output, rep); perr != nil && err == nil {
						err = perr
					}
				} else {
					plugin.PrintImport(cmd.OutOrStdout(), args[0], rep)
				}
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&o.Replace, "replace", false, "overwrite keys that exist (default: keep them and report them skipped)")
	cmd.Flags().DurationVar(&o.StartTimeout, "start-timeout", 3*time.Minute, "how long to wait for the import pod to start")
	addOutput(cmd, &output)
	return cmd
}
