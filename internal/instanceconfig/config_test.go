package instanceconfig

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const valid = `{
  "clusterName": "app", "masterName": "ns-app-1", "instances": ["app-1", "app-2"],
  "hostTemplate": "{name}.app-headless.ns.svc.cluster.local",
  "hosts": {"app-2": "127.0.0.1:7002"},
  "sentinels": ["s-1:26379"], "persistence": "AOF", "config": {"maxmemory": "1gb"},
  "configGeneration": 3, "minReplicasToWrite": 1, "minReplicasMaxLagSeconds": 10,
  "authEnabled": true, "initialPrimary": "app-1"
}`

func TestParse(t *testing.T) {
	c, err := Parse([]byte(valid))
	if err != nil {
		t.Fatal(err)
	}
	type addr struct {
		Host string
		Port int
	}
	got := map[string]addr{}
	for _, n := range c.Instances {
		h, p := c.Address(n, 6379)
		got[n] = addr{h, p}
	}
	want := map[string]addr{
		"app-1": {"app-1.app-headless.ns.svc.cluster.local", 6379},
		"app-2": {"127.0.0.1", 7002},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Address (-want +got):\n%s", diff)
	}
	for _, tc := range []struct {
		host string
		port int
		want string
	}{
		{"APP-1.app-headless.ns.svc.cluster.local.", 6379, "app-1"},
		{"127.0.0.1", 7002, "app-2"},
		{"127.0.0.1", 6379, ""},
		{"app-9.app-headless.ns.svc.cluster.local", 6379, ""},
	} {
		if got := c.InstanceAt(tc.host, tc.port, 6379); got != tc.want {
			t.Errorf("InstanceAt(%s, %d) = %q, want %q", tc.host, tc.port, got, tc.want)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	cases := map[string]struct {
		edit func(string) string
		want string
	}{
		"unknown field": {func(s string) string {
			return strings.Replace(s, `"clusterName"`, `"clustername2": 1, "clusterName"`, 1)
		}, "unknown field"},
		"bad persistence": {func(s string) string { return strings.Replace(s, `"AOF"`, `"aof"`, 1) }, "persistence"},
		"foreign initial": {func(s string) string {
			return strings.Replace(s, `"initialPrimary": "app-1"`, `"initialPrimary": "other-1"`, 1)
		}, "initialPrimary"},
		"duplicate instance":   {func(s string) string { return strings.Replace(s, `["app-1", "app-2"]`, `["app-1", "app-1"]`, 1) }, "listed twice"},
		"no master name":       {func(s string) string { return strings.Replace(s, `"ns-app-1"`, `""`, 1) }, "masterName"},
		"bad sentinel":         {func(s string) string { return strings.Replace(s, `"s-1:26379"`, `"s-1"`, 1) }, "sentinels"},
		"bad host port":        {func(s string) string { return strings.Replace(s, `127.0.0.1:7002`, `127.0.0.1:0`, 1) }, "hosts[app-2]"},
		"no way to find hosts": {func(s string) string { return strings.Replace(s, `{name}.`, ``, 1) }, "has no entry in hosts"},
		"sentinel pods not matching": {func(s string) string {
			return strings.Replace(s, `"sentinels": ["s-1:26379"]`, `"sentinels": ["s-1:26379"], "sentinelPods": ["a", "b"]`, 1)
		}, "sentinelPods"},
		"negative durability": {func(s string) string {
			return strings.Replace(s, `"minReplicasToWrite": 1`, `"minReplicasToWrite": -1`, 1)
		}, "negative"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(c.edit(valid)))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Parse error = %v, want one mentioning %q", err, c.want)
			}
		})
	}
}

func TestNameAtAndSerial(t *testing.T) {
	c, err := Parse([]byte(valid))
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		host string
		port int
		want string
	}{
		"listed":                  {"app-1.app-headless.ns.svc.cluster.local", 6379, "app-1"},
		"listed, other case, dot": {"APP-1.app-headless.ns.svc.cluster.local.", 6379, "app-1"},
		"listed by hosts":         {"127.0.0.1", 7002, "app-2"},
		"not listed yet":          {"app-7.app-headless.ns.svc.cluster.local", 6379, "app-7"},
		"another cluster":         {"other-7.app-headless.ns.svc.cluster.local", 6379, ""},
		"another namespace":       {"app-7.app-headless.ns2.svc.cluster.local", 6379, ""},
		"not a serial":            {"app-x.app-headless.ns.svc.cluster.local", 6379, ""},
		"another port":            {"app-7.app-headless.ns.svc.cluster.local", 6380, ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := c.NameAt(tc.host, tc.port, 6379); got != tc.want {
				t.Errorf("NameAt(%q, %d) = %q, want %q", tc.host, tc.port, got, tc.want)
			}
		})
	}
	for name, want := range map[string]int{"app-1": 1, "app-12": 12, "app-01": 0, "app-": 0, "other-1": 0} {
		if got := c.Serial(name); got != want {
			t.Errorf("Serial(%q) = %d, want %d", name, got, want)
		}
	}
	if got := c.ManagerAddress("app-1"); got != "app-1.app-headless.ns.svc.cluster.local:8080" {
		t.Errorf("ManagerAddress = %q", got)
	}
}
