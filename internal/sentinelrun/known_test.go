package sentinelrun

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/haredis/haredis/internal/instanceconfig"
)

func cluster() *instanceconfig.Config {
	return &instanceconfig.Config{
		ClusterName: "app", MasterName: "ns.app.abc", Instances: []string{"app-1", "app-2", "app-3"},
		HostTemplate: "{name}.app-headless.ns.svc.cluster.local",
		Sentinels: []string{
			"app-sentinel-1.app-sentinel-headless.ns.svc.cluster.local:26379",
			"app-sentinel-2.app-sentinel-headless.ns.svc.cluster.local:26379",
			"app-sentinel-3.app-sentinel-headless.ns.svc.cluster.local:26379",
		},
	}
}

func TestKnownReplicas(t *testing.T) {
	loopback := cluster()
	loopback.Hosts = map[string]string{"app-1": "127.0.0.1:7001", "app-2": "127.0.0.1:7002", "app-3": "127.0.0.1:7003"}
	cases := map[string]struct {
		cfg     *instanceconfig.Config
		primary Addr
		want    []Addr
	}{
		"every other instance": {
			cfg: cluster(), primary: Addr{"app-2.app-headless.ns.svc.cluster.local", 6379},
			want: []Addr{{"app-1.app-headless.ns.svc.cluster.local", 6379}, {"app-3.app-headless.ns.svc.cluster.local", 6379}},
		},
		"primary named by a peer with a trailing dot": {
			cfg: cluster(), primary: Addr{"app-1.app-headless.ns.svc.cluster.local.", 6379},
			want: []Addr{{"app-2.app-headless.ns.svc.cluster.local", 6379}, {"app-3.app-headless.ns.svc.cluster.local", 6379}},
		},
		"primary that is no instance": {
			cfg: cluster(), primary: Addr{"elsewhere", 6379},
			want: []Addr{{"app-1.app-headless.ns.svc.cluster.local", 6379}, {"app-2.app-headless.ns.svc.cluster.local", 6379}, {"app-3.app-headless.ns.svc.cluster.local", 6379}},
		},
		"loopback ports": {
			cfg: loopback, primary: Addr{"127.0.0.1", 7003},
			want: []Addr{{"127.0.0.1", 7001}, {"127.0.0.1", 7002}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, KnownReplicas(tc.cfg, tc.primary)); diff != "" {
				t.Errorf("KnownReplicas (-want +got):\n%s", diff)
			}
		})
	}
}

func TestKnownSentinels(t *testing.T) {
	host := func(n string) string { return "app-sentinel-" + n + ".app-sentinel-headless.ns.svc.cluster.local" }
	id := func(pod string) string { return MyID("ns.app.abc", pod) }
	loopback := cluster()
	loopback.Sentinels = []string{"127.0.0.1:26001", "127.0.0.1:26002", "127.0.0.1:26003"}
	named := cluster()
	named.Sentinels = loopback.Sentinels
	named.SentinelPods = []string{"app-sentinel-1", "app-sentinel-2", "app-sentinel-3"}
	foreign := cluster()
	foreign.Sentinels = []string{"sentinel-a.example:26379", host("2") + ":26379"}
	cases := map[string]struct {
		cfg  *instanceconfig.Config
		self Addr
		pod  string
		want []Peer
	}{
		"pod names from the host names": {
			cfg: cluster(), self: Addr{host("1"), 26379}, pod: "app-sentinel-1",
			want: []Peer{{Addr{host("2"), 26379}, id("app-sentinel-2")}, {Addr{host("3"), 26379}, id("app-sentinel-3")}},
		},
		"pod names given": {
			cfg: named, self: Addr{"127.0.0.1", 26002}, pod: "app-sentinel-2",
			want: []Peer{{Addr{"127.0.0.1", 26001}, id("app-sentinel-1")}, {Addr{"127.0.0.1", 26003}, id("app-sentinel-3")}},
		},
		"addresses without pod names are left to hello messages": {cfg: loopback, self: Addr{"127.0.0.1", 26002}, pod: "app-sentinel-2"},
		"a host name that is no dedicated sentinel's": {
			cfg: foreign, self: Addr{host("1"), 26379}, pod: "app-sentinel-1",
			want: []Peer{{Addr{host("2"), 26379}, id("app-sentinel-2")}},
		},
		"self by pod name under another address": {
			cfg: cluster(), self: Addr{"10.0.0.7", 26379}, pod: "app-sentinel-3",
			want: []Peer{{Addr{host("1"), 26379}, id("app-sentinel-1")}, {Addr{host("2"), 26379}, id("app-sentinel-2")}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, KnownSentinels(tc.cfg, tc.self, tc.pod)); diff != "" {
				t.Errorf("KnownSentinels (-want +got):\n%s", diff)
			}
		})
	}
}
