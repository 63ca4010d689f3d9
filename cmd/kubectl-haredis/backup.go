package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/haredis/haredis/internal/plugin"
)

func newBackupCommand(k *kube) *cobra.Command {
	var name string
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "backup REDISFAILOVER",
		Short: "Back REDISFAILOVER up to its object store (a RedisBackup), wait for it and print what it holds",
		Example: `  kubectl haredis backup app
  kubectl haredis backup app --name app-before-migration -n shop
  kubectl haredis backup app --wait 0   # create the RedisBackup and return`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: k.completeRF,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ns, err := k.client()
			if err != nil {
				return err
			}
			if name == "" {
				name = plugin.BackupName(args[0], time.Now())
			}
			return plugin.Backup(cmd.Context(), c, cmd.OutOrStdout(), ns, args[0], name, wait)
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "name of the RedisBackup (default REDISFAILOVER-YYYYMMDD-HHMMSS, UTC)")
	cmd.Flags().DurationVar(&wait, "wait", 30*time.Minute, "how long to wait for the backup to end; 0 returns once it is created")
	return cmd
}

func newRestoreCommand(k *kube) *cobra.Command {
	var output string
	var apply bool
	cmd := &cobra.Command{
		Use:   "restore BACKUP NEW-REDISFAILOVER",
		Short: "Print (or --apply) a new RedisFailover seeded from a completed RedisBackup, with the spec of the RedisFailover it was taken from",
		Example: `  kubectl haredis restore app-20261202-030000 app-restored > app-restored.yaml
  kubectl haredis restore app-20261202-030000 app-restored --apply`,
		Args: cobra.ExactArgs(2),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
			if len(args) != 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			c, ns, err := k.client()
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return plugin.CompleteBackup(cmd.Context(), c, ns, prefix), cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := plugin.CheckOutput(output); err != nil {
				return err
			}
			c, ns, err := k.client()
			if err != nil {
				return err
			}
			rf, err := plugin.RestoreManifest(cmd.Context(), c, ns, args[0], args[1])
			if err != nil {
				return err
			}
			if !apply {
				if output == "" {
					output = plugin.OutputYAML
				}
				return plugin.PrintData(cmd.OutOrStdout(), output, rf)
			}
			return plugin.CreateRF(cmd.Context(), c, cmd.OutOrStdout(), rf)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "yaml (default) or json")
	cmd.Flags().BoolVar(&apply, "apply", false, "create the RedisFailover instead of printing it")
	return cmd
}
