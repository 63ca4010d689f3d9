package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/haredis/haredis/internal/secretfile"

	"github.com/haredis/haredis/internal/atomicfile"

	"github.com/spf13/cobra"

	"github.com/haredis/haredis/internal/instanceconfig"
	"github.com/haredis/haredis/internal/sentinelconf"
)

func newSentinelCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "sentinel", Short: "A dedicated sentinel of a RedisFailover"}
	cmd.AddCommand(newSentinelRunCommand())
	return cmd
}

func newSentinelRunCommand() *cobra.Command {
	var (
		configPath, passwordFile, runDir, announce, podName, binary string
		port, quorum                                                int
		downAfter, failoverTimeout                                  time.Duration
	)
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Render sentinel.conf (primary from the peer sentinels' majority, else the recorded one) and exec redis-sentinel",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
			cfg, err := instanceconfig.Load(configPath)
			if err != nil {
				return err
			}
			password := ""
			if cfg.AuthEnabled {
				if password, err = secretfile.Read(passwordFile); err != nil {
					return fmt.Errorf("cannot read the password: %w", err)
				}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			path := filepath.Join(runDir, "sentinel.conf")
			// The file a previous start left (a container restart in the
			// same pod): Sentinel rewrote it with its epochs and votes.
			previous, err := os.ReadFile(path)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("cannot read the previous sentinel.conf: %w", err)
			}
			conf, _, err := sentinelconf.Prepare(ctx, sentinelconf.Inputs{
				Config: cfg, PodName: podName, AnnounceHostname: announce, Port: port, Password: password,
				Quorum: quorum, DownAfter: downAfter, FailoverTimeout: failoverTimeout, Previous: string(previous), Log: log,
			})
			if err != nil {
				return err
			}
			// Replaced atomically: a container killed while writing leaves the
			// previous file, and with it the sentinel's votes.
			if err := atomicfile.Write(path, []byte(conf), 0o600); err != nil {
				return fmt.Errorf("cannot write sentinel.conf: %w", err)
			}
			bin, err := exec.LookPath(binary)
			if err != nil {
				return fmt.Errorf("cannot find %s: %w", binary, err)
			}
			log.Info("starting redis-sentinel", "config", path)
			// exec, not a child: redis-sentinel gets the container's signals
			// directly, and when it exits the kubelet restarts the container,
			// which renders the file again from the peers' current view.
			return syscall.Exec(bin, []string{bin, path, "--sentinel"}, os.Environ())
		},
	}
	f := cmd.Flags()
	f.StringVar(&configPath, "config", envOr("HAREDIS_CONFIG", "/etc/haredis/instance.json"), "instance.json of the RedisFailover")
	f.StringVar(&passwordFile, "password-file", envOr("HAREDIS_PASSWORD_FILE", "/etc/haredis/auth/password"), "file holding the password (when auth is on)")
	f.StringVar(&runDir, "run-dir", envOr("HAREDIS_RUN_DIR", "/run/haredis"), "writable directory for sentinel.conf (Sentinel rewrites it)")
	f.StringVar(&podName, "pod-name", envOr("POD_NAME", ""), "this sentinel's pod name; keeps its sentinel id stable")
	f.StringVar(&announce, "announce-hostname", "", "this sentinel's stable DNS name")
	f.StringVar(&binary, "redis-sentinel", envOr("HAREDIS_REDIS_SENTINEL", "redis-sentinel"), "redis-sentinel binary")
	f.IntVar(&port, "port", 26379, "sentinel port")
	f.IntVar(&quorum, "quorum", 0, "sentinels that must agree the primary is down (0: a majority of the sentinels in --config)")
	f.DurationVar(&downAfter, "down-after", time.Second, "down-after-milliseconds")
	f.DurationVar(&failoverTimeout, "failover-timeout", 10*time.Second, "failover-timeout")
	_ = cmd.MarkFlagRequired("announce-hostname")
	return cmd
}
