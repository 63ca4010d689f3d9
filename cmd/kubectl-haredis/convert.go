package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/haredis/haredis/internal/plugin"
)

func newConvertCommand(k *kube) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "convert FILE",
		Short: "Convert Spotahome redis-operator RedisFailovers (databases.spotahome.com/v1) into haredis RedisFailovers",
		Long: `convert reads FILE (- for stdin), one or more YAML or JSON documents (a
kind List is read item by item), and prints every Spotahome RedisFailover
(databases.spotahome.com/v1) converted into a haredis RedisFailover
(haredis.dev/v1). Documents of any other kind are printed unchanged, in
their place. It reads no cluster.

Each converted RedisFailover is headed by comments that name the fields
that were not carried over, and why, and the points to check; the same
report goes to the error stream. -o json (or -o yaml) prints instead one
object: {"manifests": [...], "notCarried": [{"object", "field", "reason"}],
"notes": [{"object", "field", "note"}]}.

-n NAMESPACE writes the namespace into every converted RedisFailover that
has none. The data is not moved: see docs/plugin/convert.md.`,
		Example: `  kubectl haredis convert redisfailover.yaml > app-redis.yaml
  kubectl get redisfailovers.databases.spotahome.com -n shop -o yaml | kubectl haredis convert -
  kubectl haredis convert manifests.yaml -o json | jq '.notCarried[] | .field'`,
		Args: cobra.ExactArgs(1),
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return []string{"yaml", "yml", "json"}, cobra.ShellCompDirectiveFilterFileExt
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := plugin.CheckOutput(output); err != nil {
				return err
			}
			opts := plugin.ConvertOptions{Source: args[0]}
			var data []byte
			var err error
			if args[0] == "-" {
				opts.Source = "stdin"
				data, err = io.ReadAll(cmd.InOrStdin())
			} else {
				data, err = os.ReadFile(args[0])
			}
			if err != nil {
				return fmt.Errorf("cannot read %s: %w", opts.Source, err)
			}
			if nsFlag := cmd.Flag("namespace"); nsFlag != nil && nsFlag.Changed {
				opts.Namespace = nsFlag.Value.String()
			}
			conv, err := plugin.Convert(data, opts)
			if err != nil {
				return err
			}
			if output != "" {
				d, err := conv.Data()
				if err != nil {
					return err
				}
				if err := plugin.PrintData(cmd.OutOrStdout(), output, d); err != nil {
					return err
				}
			} else {
				out, err := conv.YAML()
				if err != nil {
					return err
				}
				if _, err := cmd.OutOrStdout().Write(out); err != nil {
					return err
				}
			}
			conv.PrintReport(cmd.ErrOrStderr())
			return nil
		},
	}
	addOutput(cmd, &output)
	return cmd
}
