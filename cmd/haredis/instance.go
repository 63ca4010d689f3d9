package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/haredis/haredis/internal/atomicfile"

	"github.com/spf13/cobra"

	"github.com/haredis/haredis/internal/certs"
	"github.com/haredis/haredis/internal/instance"
	"github.com/haredis/haredis/internal/instanceconfig"
	"github.com/haredis/haredis/internal/supervise"
)

func newInstanceCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "instance",
		Short: "The instance manager: PID 1 of every Redis container",
	}
	cmd.AddCommand(newInstanceRunCommand(), newInstanceCopyBinaryCommand())
	return cmd
}

func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}

func envIntOr(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

func newInstanceRunCommand() *cobra.Command {
	var (
		configPath, passwordFile, internalPasswordsDir, tokenFile, podInfoDir, tlsDir, dataDir, runDir, httpListen, metricsListen, bind, redisServer string
		redisPort                                                                                                                                    int
		bootWait, stopTimeout                                                                                                                        time.Duration
		subreaper                                                                                                                                    bool
	)
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Decide the boot role, run and supervise redis-server, serve the HTTP API",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
			cfg, err := instanceconfig.Load(configPath)
			if err != nil {
				return err
			}
			self := os.Getenv("POD_NAME")
			if self == "" {
				return fmt.Errorf("cannot run the instance manager: POD_NAME is not set")
			}
			reapAll := os.Getpid() == 1
			if subreaper {
				if err := supervise.BecomeSubreaper(); err != nil {
					return err
				}
				reapAll = true
			}
			m, err := instance.New(instance.Options{
				Config: cfg, ConfigPath: configPath, Self: self, PodIP: os.Getenv("POD_IP"),
				PasswordFile: passwordFile, InternalPasswordsDir: internalPasswordsDir, TokenFile: tokenFile, PodInfoDir: podInfoDir, TLSDir: tlsDir, DataDir: dataDir, RunDir: runDir, RedisPort: redisPort,
				Bind: strings.Fields(bind), HTTPListen: httpListen, MetricsListen: metricsListen, RedisServer: redisServer,
				BootWait: bootWait, StopTimeout: stopTimeout,
				Reaper: supervise.NewReaper(reapAll, log), Log: log,
			})
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			log.Info("instance manager starting", "instance", self, "namespace", os.Getenv("POD_NAMESPACE"),
				"cluster", cfg.ClusterName, "masterName", cfg.MasterName, "pid1", os.Getpid() == 1)
			return m.Run(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&configPath, "config", envOr("HAREDIS_CONFIG", "/etc/haredis/config/instance.json"), "instance.json written by the operator (env HAREDIS_CONFIG)")
	f.StringVar(&passwordFile, "password-file", envOr("HAREDIS_PASSWORD_FILE", "/etc/haredis/auth/password"), "file holding the Redis password, read when auth is enabled (env HAREDIS_PASSWORD_FILE)")
	f.StringVar(&internalPasswordsDir, "internal-passwords-dir", envOr("HAREDIS_INTERNAL_PASSWORDS_DIR", "/etc/haredis/auth"), "directory holding the internal users' passwords, read when instance.json turns ACL users on (env HAREDIS_INTERNAL_PASSWORDS_DIR)")
	f.StringVar(&tokenFile, "token-file", envOr("HAREDIS_TOKEN_FILE", "/etc/haredis/auth/manager-token"), "file holding the manager token every API request but the probes must carry (env HAREDIS_TOKEN_FILE)")
	f.StringVar(&podInfoDir, "pod-info-dir", envOr("HAREDIS_POD_INFO_DIR", "/etc/haredis/podinfo"), "downward API volume with the pod's labels (env HAREDIS_POD_INFO_DIR)")
	f.StringVar(&tlsDir, "tls-dir", envOr("HAREDIS_TLS_DIR", certs.MountDir), "the mounted certificate Secret (tls.crt, tls.key, ca.crt), read when instance.json turns TLS on (env HAREDIS_TLS_DIR)")
	f.StringVar(&dataDir, "data-dir", envOr("HAREDIS_DATA_DIR", "/data"), "the instance's volume: Redis's dir and the manager's state (env HAREDIS_DATA_DIR)")
	f.StringVar(&runDir, "run-dir", envOr("HAREDIS_RUN_DIR", "/run/haredis"), "where the rendered redis.conf goes (env HAREDIS_RUN_DIR)")
	f.StringVar(&httpListen, "http-listen", envOr("HAREDIS_HTTP_LISTEN", ":8080"), "address of the HTTP API (env HAREDIS_HTTP_LISTEN)")
	f.StringVar(&metricsListen, "metrics-listen", envOr("HAREDIS_METRICS_LISTEN", ":9121"), "address serving GET /metrics without the manager token; empty for none (env HAREDIS_METRICS_LISTEN)")
	f.IntVar(&redisPort, "redis-port", envIntOr("HAREDIS_REDIS_PORT", 6379), "port redis-server listens on (env HAREDIS_REDIS_PORT)")
	f.StringVar(&bind, "bind", envOr("HAREDIS_BIND", "* -::*"), "addresses redis-server binds, space separated (env HAREDIS_BIND)")
	f.StringVar(&redisServer, "redis-server", envOr("HAREDIS_REDIS_SERVER", ""), "the server binary; valkey-server or redis-server from PATH when empty, Valkey first (env HAREDIS_REDIS_SERVER)")
	f.DurationVar(&bootWait, "boot-wait", 30*time.Second, "how long a recorded primary waits for unreachable peers before booting")
	f.DurationVar(&stopTimeout, "stop-timeout", 30*time.Second, "how long a clean shutdown of redis-server may take before SIGKILL")
	f.BoolVar(&subreaper, "subreaper", false, "adopt and reap orphaned descendants even when not PID 1")
	return cmd
}

func newInstanceCopyBinaryCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "copy-binary DEST",
		Short: "Copy this executable to DEST atomically with mode 0755 (for the init container)",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			self, err := os.Executable()
			if err != nil {
				return fmt.Errorf("cannot find this executable: %w", err)
			}
			return copyExecutable(self, args[0])
		},
	}
}

// copyExecutable writes a temporary file next to dest and renames it, so a
// container never sees half a binary.
func copyExecutable(src, dest string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("cannot copy %s: %w", src, err)
	}
	defer in.Close()
	return atomicfile.WriteFrom(dest, in, 0o755)
}
