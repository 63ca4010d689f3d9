package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/haredis/haredis/internal/plugin"
)

func newGenerateCommand(k *kube) *cobra.Command {
	var (
		opts                                                         plugin.GenerateOptions
		replicas, sentinels                                          int32
		backupKeep                                                   int32
		storageSize, storageClass, persistence, image, engine        string
		backupSchedule, backupStore, backupRegion, backupCredentials string
		proxy                                                        bool
		defaults, helmDir, valuesKey, output                         string
		force                                                        bool
	)
	cmd := &cobra.Command{
		Use:   "generate NAME",
		Short: "Print a RedisFailover manifest for a GitOps repository, or write it as a Helm template",
		Long: `Print a RedisFailover manifest with the choices given as flags; what is not
given is left to the schema's defaults (3 instances, 1Gi volumes, AOF,
3 sentinels, the proxy, Valkey). --defaults FILE starts from a platform
team's defaults (a partial RedisFailover spec, or a whole RedisFailover, in
YAML); flags override them.

--helm DIR writes the RedisFailover as a Helm template under
DIR/templates/ and prints the snippet to add to values.yaml: the spec, and
the env entries an application's containers need from the connection
Secret NAME-connection.`,
		Example: `  kubectl haredis generate app > app-redis.yaml
  kubectl haredis generate cache --replicas 2 --storage-size 5Gi --storage-class fast --proxy=false \
      --set-parameter notify-keyspace-events=gxE --set-parameter maxmemory-policy=allkeys-lru
  kubectl haredis generate app --defaults platform/redis-defaults.yaml --engine redis
  kubectl haredis generate app --backup-store https://s3.eu-west-1.amazonaws.com/backups/redis \
      --backup-credentials s3-credentials --backup-schedule "0 3 * * *"
  kubectl haredis generate app --helm charts/shop >> charts/shop/values.yaml`,
		Args: cobra.ExactArgs(1),
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return nil, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := plugin.CheckOutput(output); err != nil {
				return err
			}
			f := cmd.Flags()
			opts.Name = args[0]
			if nsFlag := cmd.Flag("namespace"); nsFlag != nil && nsFlag.Changed {
				opts.Namespace = nsFlag.Value.String()
			}
			if defaults != "" {
				data, err := os.ReadFile(defaults)
				if err != nil {
					return fmt.Errorf("cannot read the defaults: %w", err)
				}
				opts.Defaults, opts.DefaultsSource = data, defaults
			}
			opts.Replicas = changed(f, "replicas", replicas)
			opts.Sentinels = changed(f, "sentinels", sentinels)
			opts.BackupKeep = changed(f, "backup-keep", backupKeep)
			opts.Proxy = changed(f, "proxy", proxy)
			opts.StorageSize = changed(f, "storage-size", storageSize)
			opts.StorageClass = changed(f, "storage-class", storageClass)
			opts.Persistence = changed(f, "persistence", persistence)
			opts.Image = changed(f, "image", image)
			opts.Engine = changed(f, "engine", engine)
			opts.BackupSchedule = changed(f, "backup-schedule", backupSchedule)
			opts.BackupStore = changed(f, "backup-store", backupStore)
			opts.BackupRegion = changed(f, "backup-region", backupRegion)
			opts.BackupCredentials = changed(f, "backup-credentials", backupCredentials)
			rf, err := plugin.Generate(opts)
			if err != nil {
				return err
			}
			if helmDir == "" {
				out, err := plugin.Manifest(rf, output)
				if err != nil {
					return err
				}
				_, err = cmd.OutOrStdout().Write(out)
				return err
			}
			if output != "" {
				return fmt.Errorf("--helm prints the values snippet as YAML; leave out -o")
			}
			h, err := plugin.HelmChart(rf, valuesKey)
			if err != nil {
				return err
			}
			path, err := h.Write(helmDir, force)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s\n", path)
			if !plugin.IsChart(helmDir) {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s has no Chart.yaml; is it the chart's directory?\n", helmDir)
			}
			_, err = cmd.OutOrStdout().Write(h.Values)
			return err
		},
	}
	f := cmd.Flags()
	f.Int32Var(&replicas, "replicas", 3, "Redis instances: a primary and replicas-1 replicas")
	f.StringVar(&storageSize, "storage-size", "1Gi", "size of each instance's volume")
	f.StringVar(&storageClass, "storage-class", "", "storage class of the volumes (default: the cluster's)")
	f.StringVar(&persistence, "persistence", "AOF", "AOF, RDB or None")
	f.BoolVar(&proxy, "proxy", true, "run the Sentinel-aware proxy behind REDIS_URL (--proxy=false: REDIS_URL reaches the primary directly)")
	f.Int32Var(&sentinels, "sentinels", 3, "sentinels: 3, 5, 7 or 9")
	f.StringVar(&image, "image", "valkey/valkey:8.0", "server image: Valkey 7.2 and later or Redis 7.0 and later")
	f.StringVar(&engine, "engine", "valkey", "valkey or redis: picks that engine's image unless the image in force runs it")
	f.StringArrayVar(&opts.Parameters, "set-parameter", nil, "a parameter of the group, NAME=VALUE (repeat it), for example notify-keyspace-events=gxE")
	f.StringVar(&backupStore, "backup-store", "", "S3-compatible bucket for backups, path style: https://ENDPOINT/BUCKET[/PREFIX]")
	f.StringVar(&backupCredentials, "backup-credentials", "", "Secret with the keys accessKeyID and secretAccessKey of the backup store")
	f.StringVar(&backupRegion, "backup-region", "", "region of the backup bucket")
	f.StringVar(&backupSchedule, "backup-schedule", "", `backup schedule, cron with five fields in UTC ("0 3 * * *") or @daily`)
	f.Int32Var(&backupKeep, "backup-keep", 7, "completed backups to keep")
	f.StringVar(&defaults, "defaults", "", "YAML file of defaults: a partial RedisFailover spec (or a whole RedisFailover); flags override it")
	f.StringVar(&helmDir, "helm", "", "write a Helm template under DIR/templates/ and print the values.yaml snippet")
	f.StringVar(&valuesKey, "values-key", plugin.DefaultValuesKey, "with --helm: the values.yaml key of this RedisFailover")
	f.BoolVar(&force, "force", false, "with --helm: replace an existing template")
	addOutput(cmd, &output)
	_ = cmd.RegisterFlagCompletionFunc("persistence", cobra.FixedCompletions([]string{"AOF", "RDB", "None"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("engine", cobra.FixedCompletions([]string{"valkey", "redis"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.MarkFlagFilename("defaults", "yaml", "yml")
	_ = cmd.MarkFlagDirname("helm")
	return cmd
}

// changed is a pointer to v when the flag was given, else nil (the
// defaults file's value or the schema's default stays).
func changed[T any](f *pflag.FlagSet, name string, v T) *T {
	if !f.Changed(name) {
		return nil
	}
	return &v
}
