// Command kubectl-haredis is the kubectl plugin of haredis (`kubectl haredis
// ...`): it wires cobra and kubectl's standard flags; the verbs live in
// internal/plugin.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/haredis/haredis/internal/version"
)

func main() {
	if err := newRoot().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "kubectl-haredis",
		Short: "Work with haredis RedisFailovers: manifests, connection URLs, status, switchovers, backups, redis-cli, logs",
		Long: `kubectl haredis works with the RedisFailovers of the haredis operator.

  generate       a RedisFailover manifest (or a Helm template) for a GitOps repository
  url            REDIS_URL, the one URL for every client
  sentinel-url   the Sentinel connection in the form of a client library
  status         a verdict, the primary, every instance, sentinel and proxy, the conditions
  promote        a planned switchover to a replica
  cli            an authenticated redis-cli on the primary, an instance or the proxy
  logs           the logs of every pod, prefixed, -f to follow
  report         a support bundle: objects, events, statuses, logs, secrets redacted
  import         replay the keys of a local RDB file into a running RedisFailover, online
  hibernate      on: remove every pod and keep the volumes; off: wake it with its data
  fence/unfence  refuse every write on purpose (reads go on), and lift it
  rotate         a new application password, in two phases with no restart
  convert        turn Spotahome RedisFailover manifests into haredis ones
  backup         a RedisBackup to the object store, waited for
  restore        a new RedisFailover seeded from a RedisBackup
  cutover        end a live import: haredis's primary becomes the writer`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Annotations: map[string]string{
			// kubectl's plugin completion shows the plugin as `kubectl haredis`.
			cobra.CommandDisplayNameAnnotation: "kubectl haredis",
		},
	}
	k := bindKube(root)
	_ = root.RegisterFlagCompletionFunc("namespace", k.completeNamespace)
	root.AddCommand(
		newGenerateCommand(k),
		newURLCommand(k),
		newSentinelURLCommand(k),
		newStatusCommand(k),
		newPromoteCommand(k),
		newCLICommand(k),
		newLogsCommand(k),
		newReportCommand(k),
		newImportCommand(k),
		newConvertCommand(k),
		newHibernateCommand(k),
		newBackupCommand(k),
		newRestoreCommand(k),
		newCutoverCommand(k),
		newRotateCommand(k),
		version.Command(),
	)
	root.AddCommand(newFenceCommands(k)...)
	return root
}
