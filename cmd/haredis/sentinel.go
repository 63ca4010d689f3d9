package main

import (
	"github.com/haredis/haredis/internal/acl"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/haredis/haredis/internal/certs"
	"github.com/haredis/haredis/internal/sentinelrun"
)

func newSentinelCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "sentinel", Short: "A sentinel: dedicated to a RedisFailover (run) or of a SentinelPool (pool)"}
	cmd.AddCommand(newSentinelRunCommand(), newSentinelPoolCommand())
	return cmd
}

func newSentinelRunCommand() *cobra.Command {
	o := sentinelrun.Options{}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Render sentinel.conf (primary from the peer sentinels' majority, else the recorded one) and exec redis-sentinel (with TLS, run it and restart it on a renewed certificate)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			o.Log = slog.New(slog.NewJSONHandler(os.Stdout, nil))
			return sentinelrun.Run(ctx, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.ConfigPath, "config", envOr("HAREDIS_CONFIG", "/etc/haredis/instance.json"), "instance.json of the RedisFailover")
	f.StringVar(&o.PasswordFile, "password-file", envOr("HAREDIS_PASSWORD_FILE", "/etc/haredis/auth/password"), "file holding the password (when auth is on)")
	f.StringVar(&o.SentinelUserPasswordFile, "sentinel-user-password-file", envOr("HAREDIS_SENTINEL_USER_PASSWORD_FILE", "/etc/haredis/auth/"+acl.SentinelPasswordKey), "file holding the sentinel user's password, read when instance.json turns ACL users on")
	f.StringVar(&o.PreviousPasswordHashFile, "previous-password-hash-file", envOr("HAREDIS_PREVIOUS_PASSWORD_HASH_FILE", "/etc/haredis/auth/"+acl.PreviousPasswordHashKey), "file holding, while a rotation of the password lasts, the SHA-256 of the password it replaces (read when instance.json turns ACL users on)")
	f.StringVar(&o.RunDir, "run-dir", envOr("HAREDIS_RUN_DIR", "/run/haredis"), "writable directory for sentinel.conf (Sentinel rewrites it)")
	f.StringVar(&o.PodName, "pod-name", envOr("POD_NAME", ""), "this sentinel's pod name; keeps its sentinel id stable")
	f.StringVar(&o.AnnounceHostname, "announce-hostname", "", "this sentinel's stable DNS name")
	f.StringVar(&o.Binary, "redis-sentinel", envOr("HAREDIS_REDIS_SENTINEL", ""), "the sentinel binary; valkey-sentinel or redis-sentinel from PATH when empty, Valkey first")
	f.StringVar(&o.TLSDir, "tls-dir", envOr("HAREDIS_TLS_DIR", certs.MountDir), "the mounted certificate Secret (tls.crt, tls.key, ca.crt), used when instance.json turns TLS on: the sentinel then speaks TLS only and restarts redis-sentinel when the certificate is renewed")
	f.IntVar(&o.Port, "port", 26379, "sentinel port")
	f.IntVar(&o.Quorum, "quorum", 0, "sentinels that must agree the primary is down (0: a majority of the sentinels in --config)")
	f.DurationVar(&o.DownAfter, "down-after", time.Second, "down-after-milliseconds")
	f.DurationVar(&o.FailoverTimeout, "failover-timeout", 10*time.Second, "failover-timeout")
	_ = cmd.MarkFlagRequired("announce-hostname")
	return cmd
}

func newSentinelPoolCommand() *cobra.Command {
	o := sentinelrun.PoolOptions{}
	cmd := &cobra.Command{
		Use:   "pool",
		Short: "Render a SentinelPool sentinel's sentinel.conf (the masters of its previous start carried over; the operator registers the others) and exec redis-sentinel",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Log = slog.New(slog.NewJSONHandler(os.Stdout, nil))
			return sentinelrun.RunPool(o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.PasswordFile, "password-file", envOr("HAREDIS_PASSWORD_FILE", "/etc/haredis/auth/password"), "file holding the pool's admin password")
	f.StringVar(&o.RunDir, "run-dir", envOr("HAREDIS_RUN_DIR", "/run/haredis"), "writable directory for sentinel.conf (Sentinel rewrites it)")
	f.StringVar(&o.TaughtDir, "taught-dir", envOr("HAREDIS_TAUGHT_DIR", ""), "directory of the masters the operator teaches the pool (one file each), written into sentinel.conf when the previous file lacks them")
	f.StringVar(&o.PodName, "pod-name", envOr("POD_NAME", ""), "this sentinel's pod name; keeps its sentinel id stable")
	f.StringVar(&o.AnnounceHostname, "announce-hostname", "", "this sentinel's stable DNS name")
	f.StringVar(&o.Binary, "redis-sentinel", envOr("HAREDIS_REDIS_SENTINEL", ""), "the sentinel binary; valkey-sentinel or redis-sentinel from PATH when empty, Valkey first")
	f.IntVar(&o.Port, "port", 26379, "sentinel port")
	_ = cmd.MarkFlagRequired("announce-hostname")
	return cmd
}
