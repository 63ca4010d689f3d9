package main

import (
	"encoding/json"
	"fmt"
	"github.com/haredis/haredis/internal/certs"

	"github.com/spf13/cobra"

	"github.com/haredis/haredis/internal/rdbimport"
	"github.com/haredis/haredis/internal/secretfile"
)

func newImportCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Import data into a running RedisFailover",
	}
	cmd.AddCommand(newImportRDBCommand())
	return cmd
}

func newImportRDBCommand() *cobra.Command {
	var o rdbimport.Options
	var passwordFile, tlsDir string
	cmd := &cobra.Command{
		Use:   "rdb --target HOST:PORT [--user NAME] [--password-file FILE] [--replace] < dump.rdb",
		Short: "Replay the keys of an RDB file read from stdin into a running primary, online",
		Long: `rdb loads the RDB file on stdin with a private server of the image's own
engine (Unix socket only), then copies every key with DUMP and RESTORE, its
TTL kept, into the primary at --target, so that its replicas follow and
nothing restarts. Keys that exist are kept (counted skipped) unless
--replace. It prints a JSON report on stdout; kubectl haredis import runs it
in a pod of its own.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Target == "" {
				return fmt.Errorf("--target HOST:PORT is required: the primary to import into")
			}
			if tlsDir != "" {
				o.TLS = certs.NewFiles(tlsDir).ClientConfig()
			}
			if passwordFile != "" {
				pw, err := secretfile.Read(passwordFile)
				if err != nil {
					return err
				}
				o.Password = pw
			}
			rep, err := rdbimport.Import(cmd.Context(), cmd.InOrStdin(), o)
			if rep != nil {
				b, merr := json.Marshal(rep)
				if merr == nil {
					fmt.Fprintf(cmd.OutOrStdout(), "%s\n", b)
				}
			}
			return err
		},
	}
	cmd.Flags().StringVar(&o.Target, "target", "", "host:port of the primary to import into")
	cmd.Flags().StringVar(&passwordFile, "password-file", "", "a file holding the target's password")
	cmd.Flags().StringVar(&o.Username, "user", "", "the user to authenticate as (RESTORE needs the dangerous commands: haredis's admin user)")
	cmd.Flags().StringVar(&tlsDir, "tls-dir", "", "a directory holding ca.crt: speak TLS to the target, verifying its chain against that CA")
	cmd.Flags().BoolVar(&o.Replace, "replace", false, "overwrite keys that exist in the target (default: keep them)")
	cmd.Flags().StringVar(&o.WorkDir, "work-dir", "", "where the file is kept while it is imported (default a temporary directory)")
	cmd.Flags().IntVar(&o.Batch, "batch", 200, "keys per round trip")
	return cmd
}
