package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/haredis/haredis/internal/secretfile"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/haredis/haredis/internal/proxy"
)

func newProxyCommand() *cobra.Command {
	env := func(name, def string) string {
		if v, ok := os.LookupEnv(name); ok {
			return v
		}
		return def
	}
	var (
		o                              proxy.RunOptions
		sentinels                      string
		passwordFile, sentinelPassFile string
		queryBufferLimit               string
	)
	cmd := &cobra.Command{
		Use:   "proxy",
		Short: "Serve one REDIS_URL that always reaches the current primary (learned from Sentinel)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := logr.FromSlogHandler(slog.NewJSONHandler(os.Stderr, nil))
			o.Proxy.Log = log
			for _, a := range strings.Split(sentinels, ",") {
				if a = strings.TrimSpace(a); a != "" {
					o.Sentinels = append(o.Sentinels, a)
				}
			}
			q, err := resource.ParseQuantity(queryBufferLimit)
			if err != nil || q.Sign() <= 0 || q.Value() > 2<<30 {
				return fmt.Errorf("--query-buffer-limit %q: want a size such as 64Mi, at most 2Gi", queryBufferLimit)
			}
			o.Proxy.QueryBufferLimit = int(q.Value())
			if o.Proxy.MaxClients <= 0 {
				return fmt.Errorf("--max-clients %d: want at least 1", o.Proxy.MaxClients)
			}
			if o.Proxy.AuthTimeout <= 0 {
				return fmt.Errorf("--auth-timeout %v: want a positive duration", o.Proxy.AuthTimeout)
			}
			if o.Proxy.Password, err = readSecret(passwordFile); err != nil {
				return err
			}
			o.SentinelPassword = o.Proxy.Password
			if sentinelPassFile != "" {
				if o.SentinelPassword, err = readSecret(sentinelPassFile); err != nil {
					return err
				}
			}
			if passwordFile != "" {
				o.PasswordFile, o.SentinelPasswordFile = passwordFile, sentinelPassFile
				if _, o.Proxy.PreviousPassword, _, err = proxy.ReadCredentials(o); err != nil {
					return err
				}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			return proxy.Run(ctx, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Listen, "listen", env("HAREDIS_PROXY_LISTEN", ":6379"), "address for Redis clients (env HAREDIS_PROXY_LISTEN)")
	f.StringVar(&o.AdminListen, "admin-listen", env("HAREDIS_PROXY_ADMIN_LISTEN", ":9090"), "address of the admin HTTP endpoint, empty for none (env HAREDIS_PROXY_ADMIN_LISTEN)")
	f.StringVar(&sentinels, "sentinels", env("HAREDIS_SENTINELS", ""), "comma-separated sentinel host:port list (env HAREDIS_SENTINELS)")
	f.StringVar(&o.MasterName, "master-name", env("HAREDIS_MASTER_NAME", ""), "Sentinel master name (env HAREDIS_MASTER_NAME)")
	f.StringVar(&passwordFile, "password-file", env("HAREDIS_PASSWORD_FILE", ""), "file holding the Redis password, required from clients too (env HAREDIS_PASSWORD_FILE)")
	f.StringVar(&o.Proxy.AdminTokenFile, "admin-token-file", env("HAREDIS_PROXY_ADMIN_TOKEN_FILE", ""), "file holding the bearer token the admin endpoint requires for /pause and /resume, read at each request; without it they require the Redis password (env HAREDIS_PROXY_ADMIN_TOKEN_FILE)")
	f.StringVar(&sentinelPassFile, "sentinel-password-file", env("HAREDIS_SENTINEL_PASSWORD_FILE", ""), "file holding the sentinels' password if it differs (env HAREDIS_SENTINEL_PASSWORD_FILE)")
	f.StringVar(&o.PreviousPasswordFile, "previous-password-file", env("HAREDIS_PREVIOUS_PASSWORD_FILE", ""), "file holding, while a rotation of the password lasts, the password it replaces (accepted from clients too; empty otherwise); the password files are read again every 2 s (env HAREDIS_PREVIOUS_PASSWORD_FILE)")
	f.StringVar(&o.StaticPrimary, "static-primary", env("HAREDIS_STATIC_PRIMARY", ""), "forward to this host:port without Sentinel (tests, benchmarks)")
	f.DurationVar(&o.Proxy.MaxPause, "max-pause", 10*time.Second, "longest a pause holds commands before resuming by itself")
	f.DurationVar(&o.Proxy.PrimaryWait, "primary-wait", 3*time.Second, "how long a command waits for a reachable primary during a failover")
	f.IntVar(&o.Proxy.MaxClients, "max-clients", proxy.DefaultMaxClients, "client connections served at once; one more gets \"-ERR max number of clients reached\" (Redis's maxclients)")
	f.StringVar(&queryBufferLimit, "query-buffer-limit", "64Mi", "longest command a client may send, framing included; a longer one gets an error and the connection is closed")
	f.StringVar(&o.TLSDir, "tls-dir", env("HAREDIS_TLS_DIR", ""), "directory of a certificate Secret (tls.crt, tls.key, ca.crt): clients must use TLS, and the instances and sentinels are reached over TLS; the files are read again when they change; empty: plaintext (env HAREDIS_TLS_DIR)")
	f.StringVar(&o.Proxy.PlainUpstream, "plain-upstream", "", "with --tls-dir, a host:port reached without TLS (a live import's source, outside the RedisFailover)")
	f.DurationVar(&o.Proxy.AuthTimeout, "auth-timeout", proxy.DefaultAuthTimeout, "how long a client may stay connected without authenticating (when a password is set); with --tls-dir, also how long its TLS handshake may take, counted in it")
	return cmd
}

func readSecret(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	p, err := secretfile.Read(path)
	if err != nil {
		return "", fmt.Errorf("cannot read the password: %w", err)
	}
	return p, nil
}
