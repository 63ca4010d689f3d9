package redisconf

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/haredis/haredis/internal/acl"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestRenderGolden(t *testing.T) {
	cases := map[string]Input{
		"aof-primary": {
			Persistence: "AOF", Port: 6379, DataDir: "/data", Password: "s3cr\"et\\x",
			Group:              map[string]string{"notify-keyspace-events": "gxE", "maxmemory-policy": "allkeys-lru"},
			MinReplicasToWrite: 1, MinReplicasMaxLagSeconds: 10,
			AnnounceHost: "app-1.app-headless.ns.svc.cluster.local",
		},
		"rdb-replica": {
			Persistence: "RDB", Port: 6379, DataDir: "/data", Password: "pw",
			AnnounceHost:  "app-2.app-headless.ns.svc.cluster.local",
			ReplicaOfHost: "app-1.app-headless.ns.svc.cluster.local", ReplicaOfPort: 6379,
		},
		"none-noauth-overrides": {
			Persistence: "None", Port: 7000, DataDir: "/tmp/d", Bind: []string{"127.0.0.1"},
			Group: map[string]string{
				"save":                       "900 1",
				"repl-diskless-sync":         "no",
				"client-output-buffer-limit": "replica 256mb 64mb 60",
				// A value trying to add a directive stays one quoted argument.
				"notify-keyspace-events": "gx\nreplicaof evil 6379",
			},
			AnnounceHost: "127.0.0.1", AnnouncePort: 7000,
		},
		"acl-users-replica": {
			Persistence: "AOF", Port: 6379, DataDir: "/data", Password: "app pw",
			Users: acl.Users("app pw", strings.Fields(acl.DefaultApplicationRules),
				acl.Passwords{Admin: "a", Replication: "r", Sentinel: "s"}),
			MasterUser: acl.ReplicationUser, MasterAuth: "r",
			AnnounceHost:  "app-2.app-headless.ns.svc.cluster.local",
			ReplicaOfHost: "app-1.app-headless.ns.svc.cluster.local", ReplicaOfPort: 6379,
		},
		"tls-replica": {
			Persistence: "AOF", Port: 6379, DataDir: "/data", Password: "pw",
			UnixSocket:    "/run/haredis/redis.sock",
			TLS:           &TLS{CertFile: "/etc/haredis/tls/tls.crt", KeyFile: "/etc/haredis/tls/tls.key", CAFile: "/etc/haredis/tls/ca.crt"},
			AnnounceHost:  "app-2.app-headless.ns.svc.cluster.local",
			ReplicaOfHost: "app-1.app-headless.ns.svc.cluster.local", ReplicaOfPort: 6379,
		},
		"validation-socket": {
			Persistence: "AOF", Port: 0, DataDir: "/run/haredis/validate-1", UnixSocket: "/run/haredis/validate-1/s",
		},
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := Render(in)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			path := filepath.Join("testdata", name+".conf")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("cannot read golden file (run make test-update-golden): %v", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("redis.conf differs from %s (-want +got):\n%s", path, diff)
			}
		})
	}
}

func TestRenderKeepsEveryDirectiveOnOneLine(t *testing.T) {
	got, err := Render(Input{Persistence: "AOF", Port: 1, DataDir: "/d", Password: "a\nrequirepass x",
		Group: map[string]string{"maxmemory": "1\r\nslaveof h 1"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(got), "\n") {
		if strings.HasPrefix(line, "slaveof") || strings.HasPrefix(line, "requirepass x") {
			t.Errorf("a value injected a directive: %q", line)
		}
	}
}

// directives returns the value of every directive of conf, by name.
func directives(conf []byte) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(string(conf), "\n") {
		if name, value, ok := strings.Cut(line, " "); ok && !strings.HasPrefix(line, "#") {
			out[name] = value
		}
	}
	return out
}

func TestRenderTLS(t *testing.T) {
	files := &TLS{CertFile: "/tls/tls.crt", KeyFile: "/tls/tls.key", CAFile: "/tls/ca.crt"}
	got, err := Render(Input{Persistence: "AOF", Port: 6380, DataDir: "/d", UnixSocket: "/run/redis.sock", TLS: files})
	if err != nil {
		t.Fatal(err)
	}
	d := directives(got)
	want := map[string]string{
		"port": `"0"`, "tls-port": `"6380"`,
		"tls-cert-file": `"/tls/tls.crt"`, "tls-key-file": `"/tls/tls.key"`, "tls-ca-cert-file": `"/tls/ca.crt"`,
		"tls-auth-clients": `"no"`, "tls-replication": `"yes"`,
		"unixsocket": `"/run/redis.sock"`, "unixsocketperm": `"700"`,
	}
	for k, v := range want {
		if d[k] != v {
			t.Errorf("%s = %s, want %s", k, d[k], v)
		}
	}

	plain := *files
	plain.PlainReplication = true
	got, err = Render(Input{Persistence: "AOF", Port: 6380, DataDir: "/d", TLS: &plain, ReplicaOfHost: "source", ReplicaOfPort: 6379})
	if err != nil {
		t.Fatal(err)
	}
	if v := directives(got)["tls-replication"]; v != `"no"` {
		t.Errorf("replicating from a plain source: tls-replication = %s, want \"no\"", v)
	}

	got, err = Render(Input{Persistence: "AOF", Port: 6380, DataDir: "/d"})
	if err != nil {
		t.Fatal(err)
	}
	for name := range directives(got) {
		if strings.HasPrefix(name, "tls-") {
			t.Errorf("without TLS, redis.conf renders %s", name)
		}
	}
}

func TestRenderRefuses(t *testing.T) {
	cases := map[string]Input{
		"owned parameter":     {Persistence: "AOF", Port: 1, DataDir: "/d", Group: map[string]string{"dir": "/etc"}},
		"malformed name":      {Persistence: "AOF", Port: 1, DataDir: "/d", Group: map[string]string{"a b": "x"}},
		"unknown persistence": {Persistence: "Sometimes", Port: 1, DataDir: "/d"},
		"no data dir":         {Persistence: "AOF", Port: 1},
		"TLS without a CA":    {Persistence: "AOF", Port: 1, DataDir: "/d", TLS: &TLS{CertFile: "c", KeyFile: "k"}},
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := Render(in); err == nil {
				t.Error("Render accepted an invalid input")
			}
		})
	}
}

func TestQuote(t *testing.T) {
	cases := map[string]struct{ in, want string }{
		"plain":      {"gxE", `"gxE"`},
		"empty":      {"", `""`},
		"spaces":     {"900 1 300 10", `"900 1 300 10"`},
		"quote":      {`a"b`, `"a\"b"`},
		"backslash":  {`a\b`, `"a\\b"`},
		"newline":    {"a\nb", `"a\x0ab"`},
		"cr and nul": {"a\r\x00", `"a\x0d\x00"`},
		"utf-8":      {"é", `"é"`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(c.want, Quote(c.in)); diff != "" {
				t.Errorf("Quote(%q) (-want +got):\n%s", c.in, diff)
			}
		})
	}
}

func TestNormalizeGroup(t *testing.T) {
	got, err := NormalizeGroup(map[string]string{"Maxmemory-Policy": "allkeys-lru", "notify-keyspace-events": "gxE"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"maxmemory-policy": "allkeys-lru", "notify-keyspace-events": "gxE"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for name, g := range map[string]map[string]string{
		"owned":     {"Port": "1"},
		"duplicate": {"maxmemory": "1", "MAXMEMORY": "2"},
		"malformed": {"max memory": "1"},
		"newline":   {"maxmemory": "1\nport 2"},
	} {
		if _, err := NormalizeGroup(g); err == nil {
			t.Errorf("%s: NormalizeGroup accepted %v", name, g)
		}
	}
}

func TestHash(t *testing.T) {
	a := Hash(map[string]string{"a": "bc"})
	if a == Hash(map[string]string{"ab": "c"}) || a == Hash(nil) {
		t.Error("different groups have the same hash")
	}
	if a != Hash(map[string]string{"a": "bc"}) {
		t.Error("equal groups have different hashes")
	}
}
