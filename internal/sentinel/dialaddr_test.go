package sentinel

import (
	"crypto/tls"
	"testing"
)

func TestDialAddrResolvesAndKeepsTheServerName(t *testing.T) {
	host := "app-1.app-headless.ns.svc.cluster.local:6379"
	resolve := func(addr string) string {
		if addr == host {
			return "10.0.0.7:6379"
		}
		return ""
	}
	for _, tc := range []struct {
		name       string
		cfg        Config
		addr       string
		want       string
		serverName string // "" when no TLS config is expected
	}{
		{name: "no resolver dials the reported address", cfg: Config{}, addr: host, want: host},
		{name: "the pod address replaces the host name", cfg: Config{Resolve: resolve}, addr: host, want: "10.0.0.7:6379"},
		{name: "an unknown address is dialled as reported", cfg: Config{Resolve: resolve}, addr: "other:6379", want: "other:6379"},
		{name: "with TLS the host name is still the server name", cfg: Config{Resolve: resolve, TLS: &tls.Config{MinVersion: tls.VersionTLS12}}, addr: host,
			want: "10.0.0.7:6379", serverName: "app-1.app-headless.ns.svc.cluster.local"},
		{name: "a name the TLS config sets stays", cfg: Config{Resolve: resolve, TLS: &tls.Config{ServerName: "fixed", MinVersion: tls.VersionTLS12}}, addr: host,
			want: "10.0.0.7:6379", serverName: "fixed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before string
			if tc.cfg.TLS != nil {
				before = tc.cfg.TLS.ServerName
			}
			got, tlsCfg := tc.cfg.dialAddr(tc.addr)
			if got != tc.want {
				t.Fatalf("dials %q, want %q", got, tc.want)
			}
			if tc.serverName == "" {
				if tlsCfg != tc.cfg.TLS {
					t.Fatalf("TLS config changed without a resolved address")
				}
				return
			}
			if tlsCfg == nil || tlsCfg.ServerName != tc.serverName {
				t.Fatalf("TLS config %+v, want server name %q", tlsCfg, tc.serverName)
			}
			if tc.cfg.TLS.ServerName != before {
				t.Fatalf("the caller's TLS config was changed")
			}
		})
	}
}
