package sentinelrun

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func params() Params {
	return Params{
		Port: 26379, AnnounceHostname: "app-sentinel-1.app-sentinel-headless.ns.svc.cluster.local",
		MyID: MyID("ns.app.abc", "app-sentinel-1"), Password: "pw", MasterName: "ns.app.abc",
		PrimaryHost: "app-1.app-headless.ns.svc.cluster.local", PrimaryPort: 6379, Quorum: 2,
		DownAfter: time.Second, FailoverTimeout: 30 * time.Second,
	}
}

func TestRender(t *testing.T) {
	got, err := Render(params())
	if err != nil {
		t.Fatal(err)
	}
	want := `# Rendered by haredis sentinel run at every start; edits are lost.
port 26379
bind * -::*
protected-mode no
dir /tmp
sentinel resolve-hostnames yes
sentinel announce-hostnames yes
sentinel announce-ip app-sentinel-1.app-sentinel-headless.ns.svc.cluster.local
sentinel announce-port 26379
sentinel myid ` + MyID("ns.app.abc", "app-sentinel-1") + `
requirepass pw
sentinel sentinel-pass pw
sentinel monitor ns.app.abc app-1.app-headless.ns.svc.cluster.local 6379 2
sentinel auth-pass ns.app.abc pw
sentinel down-after-milliseconds ns.app.abc 1000
sentinel failover-timeout ns.app.abc 30000
sentinel parallel-syncs ns.app.abc 1
`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sentinel.conf (-want +got):\n%s", diff)
	}
	p := params()
	p.Password = ""
	noAuth, err := Render(p)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(noAuth, "pass") {
		t.Errorf("without auth sentinel.conf must not set a password:\n%s", noAuth)
	}
}

// TestRenderKnownAndCarried shows the lines that let a sentinel act at once:
// the replicas and peers it knows before it hears from anyone, and the
// voting memory of a restarted sentinel.
func TestRenderKnownAndCarried(t *testing.T) {
	head := `# Rendered by haredis sentinel run at every start; edits are lost.
port 26379
bind * -::*
protected-mode no
dir /tmp
sentinel resolve-hostnames yes
sentinel announce-hostnames yes
sentinel announce-ip app-sentinel-1.app-sentinel-headless.ns.svc.cluster.local
sentinel announce-port 26379
sentinel myid ` + MyID("ns.app.abc", "app-sentinel-1") + `
requirepass pw
sentinel sentinel-pass pw
sentinel monitor ns.app.abc app-1.app-headless.ns.svc.cluster.local 6379 2
sentinel auth-pass ns.app.abc pw
sentinel down-after-milliseconds ns.app.abc 1000
sentinel failover-timeout ns.app.abc 30000
sentinel parallel-syncs ns.app.abc 1
`
	peer := MyID("ns.app.abc", "app-sentinel-2")
	cases := map[string]struct {
		edit func(*Params)
		want string
	}{
		"known replicas and sentinels": {
			edit: func(p *Params) {
				p.KnownReplicas = []Addr{{"app-2.app-headless.ns.svc.cluster.local", 6379}, {"app-3.app-headless.ns.svc.cluster.local", 6379}}
				p.KnownSentinels = []Peer{{Addr{"app-sentinel-2.app-sentinel-headless.ns.svc.cluster.local", 26379}, peer}}
			},
			want: head + `sentinel known-replica ns.app.abc app-2.app-headless.ns.svc.cluster.local 6379
sentinel known-replica ns.app.abc app-3.app-headless.ns.svc.cluster.local 6379
sentinel known-sentinel ns.app.abc app-sentinel-2.app-sentinel-headless.ns.svc.cluster.local 26379 ` + peer + `
`,
		},
		"voting memory": {
			edit: func(p *Params) { p.CurrentEpoch, p.LeaderEpoch, p.ConfigEpoch = 7, 7, 5 },
			want: head + `sentinel current-epoch 7
sentinel leader-epoch ns.app.abc 7
sentinel config-epoch ns.app.abc 5
`,
		},
		"voting memory without the config epoch": {
			edit: func(p *Params) { p.CurrentEpoch, p.LeaderEpoch = 7, 6 },
			want: head + `sentinel current-epoch 7
sentinel leader-epoch ns.app.abc 6
`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p := params()
			tc.edit(&p)
			got, err := Render(p)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("sentinel.conf (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRenderRefuses(t *testing.T) {
	cases := map[string]func(*Params){
		"password with a line break": func(p *Params) { p.Password = "a\nsentinel monitor x" },
		"short myid":                 func(p *Params) { p.MyID = "abc" },
		"no primary":                 func(p *Params) { p.PrimaryHost = "" },
		"zero quorum":                func(p *Params) { p.Quorum = 0 },
		"known replica with a line break": func(p *Params) {
			p.KnownReplicas = []Addr{{"app-2\nsentinel monitor x", 6379}}
		},
		"known replica without port": func(p *Params) { p.KnownReplicas = []Addr{{"app-2", 0}} },
		"known sentinel with a short run id": func(p *Params) {
			p.KnownSentinels = []Peer{{Addr{"s-2", 26379}, "abc"}}
		},
		"known sentinel with this sentinel's id": func(p *Params) {
			p.KnownSentinels = []Peer{{Addr{"s-2", 26379}, p.MyID}}
		},
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			p := params()
			mutate(&p)
			if _, err := Render(p); err == nil {
				t.Error("Render accepted invalid parameters")
			}
		})
	}
}

func TestMyIDStableAndDistinct(t *testing.T) {
	a, b := MyID("ns.app.abc", "app-sentinel-1"), MyID("ns.app.abc", "app-sentinel-1")
	if a != b || len(a) != 40 {
		t.Errorf("MyID not stable or not 40 characters: %q %q", a, b)
	}
	for _, other := range []string{MyID("ns.app.abc", "app-sentinel-2"), MyID("other.app.abc", "app-sentinel-1")} {
		if other == a {
			t.Errorf("two sentinels share the id %q", a)
		}
	}
}

// With ACL users the sentinel authenticates to the instances as the
// sentinel user, and still requires the password from clients and peers.
func TestRenderSentinelUser(t *testing.T) {
	p := params()
	p.AuthUser, p.AuthPass = "haredis-sentinel", "spw"
	got, err := Render(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"requirepass pw\n", "sentinel sentinel-pass pw\n", "sentinel auth-user ns.app.abc haredis-sentinel\nsentinel auth-pass ns.app.abc spw\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("sentinel.conf lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "auth-pass ns.app.abc pw\n") {
		t.Errorf("sentinel.conf gives the instances the application password:\n%s", got)
	}
}

// TestRenderPreviousPassword: during a rotation of the application
// password the sentinel takes both (the default user with the new one and
// the previous one's hash, a form redis-sentinel and valkey-sentinel both
// load), and gives its peers the new one.
func TestRenderPreviousPassword(t *testing.T) {
	p := params()
	p.AuthUser, p.AuthPass = "haredis-sentinel", "spw"
	p.PreviousPasswordHash = strings.Repeat("ab", 32)
	got, err := Render(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"user default on >pw #" + p.PreviousPasswordHash + " ~* &* +@all\n", "sentinel sentinel-pass pw\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("sentinel.conf lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "requirepass") {
		t.Errorf("sentinel.conf sets requirepass too, which would drop the previous password:\n%s", got)
	}
}

// TestRenderTLS: with TLS the sentinel listens on its usual port with TLS
// only, reads the mounted Secret, asks clients for no certificate, and
// dials the instances and its peers over TLS.
func TestRenderTLS(t *testing.T) {
	p := params()
	p.TLSDir = "/etc/haredis/tls"
	got, err := Render(p)
	if err != nil {
		t.Fatal(err)
	}
	want := `# Rendered by haredis sentinel run at every start; edits are lost.
port 0
tls-port 26379
tls-cert-file /etc/haredis/tls/tls.crt
tls-key-file /etc/haredis/tls/tls.key
tls-ca-cert-file /etc/haredis/tls/ca.crt
tls-auth-clients no
tls-replication yes
bind * -::*
`
	if !strings.HasPrefix(got, want) {
		t.Errorf("sentinel.conf with TLS does not start with\n%s\ngot:\n%s", want, got)
	}
	if !strings.Contains(got, "sentinel announce-port 26379\n") {
		t.Errorf("the sentinel must announce its TLS port:\n%s", got)
	}
	p.TLSDir = "/etc/haredis/my tls"
	if _, err := Render(p); err == nil {
		t.Error("Render accepted a TLS directory with a space")
	}
}
