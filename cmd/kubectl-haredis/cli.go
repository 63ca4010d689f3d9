package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/haredis/haredis/internal/plugin"
)

func newCLICommand(k *kube) *cobra.Command {
	var o plugin.CLIOptions
	cmd := &cobra.Command{
		Use:   "cli REDISFAILOVER [INSTANCE] [-- REDIS-CLI-ARGS...]",
		Short: "An authenticated redis-cli on the primary (or an instance, or the proxy), from your machine",
		Long: `cli runs redis-cli (valkey-cli in Valkey images) in the primary's pod, or
INSTANCE's, through the API server's exec: nothing to install locally, and
the password is read from the pod's own file into REDISCLI_AUTH, so it is
never on a command line or in your shell history. With --proxy it connects
to the proxies' Service, as applications using REDIS_URL do.

Without arguments it is interactive (a terminal when stdin is one);
arguments after -- go to redis-cli unchanged.`,
		Example: `  kubectl haredis cli app
  kubectl haredis cli app app-2 -- INFO replication
  kubectl haredis cli app -- --scan --pattern 'user:*'
  kubectl haredis cli app --proxy -- PING
  kubectl haredis cli app -- --rdb /tmp/x.rdb   # (runs in the pod: the file stays there)`,
		Args: func(cmd *cobra.Command, args []string) error {
			if pos, _ := splitAtDash(cmd, args); len(pos) == 0 || len(pos) > 2 {
				return fmt.Errorf("give the RedisFailover and at most one instance before --, e.g. kubectl haredis cli app app-2 -- PING")
			}
			return nil
		},
		ValidArgsFunction: k.completeRFInstance(false),
		RunE: func(cmd *cobra.Command, args []string) error {
			pos, rest := splitAtDash(cmd, args)
			o.Args = rest
			if len(pos) == 2 {
				o.Instance = pos[1]
			}
			if o.Proxy && o.Instance != "" {
				return fmt.Errorf("--proxy and INSTANCE %s exclude each other: the proxy routes to the primary", o.Instance)
			}
			c, cfg, _, ns, err := k.clients()
			if err != nil {
				return err
			}
			t, err := plugin.PlanCLI(cmd.Context(), c, ns, pos[0], o)
			if err != nil {
				return err
			}
			in, tty := cmd.InOrStdin(), false
			if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
				if out, ok := cmd.OutOrStdout().(*os.File); ok && term.IsTerminal(int(out.Fd())) {
					tty = true
					state, err := term.MakeRaw(int(f.Fd()))
					if err != nil {
						return fmt.Errorf("cannot put the terminal in raw mode: %w", err)
					}
					defer func() { _ = term.Restore(int(f.Fd()), state) }()
				}
			}
			return plugin.RunCLI(cmd.Context(), cfg, ns, t, tty, in, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().BoolVar(&o.Proxy, "proxy", false, "connect to the proxies' Service (REDIS_URL) instead of the primary")
	return cmd
}

// splitAtDash splits the arguments into those before -- (the RedisFailover
// and the instance) and those after it (redis-cli's).
func splitAtDash(cmd *cobra.Command, args []string) (pos, rest []string) {
	if at := cmd.ArgsLenAtDash(); at >= 0 {
		return args[:at], args[at:]
	}
	return args, nil
}
