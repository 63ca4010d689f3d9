package node

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
)

func TestTagMatches(t *testing.T) {
	tests := map[string]struct {
		tag  string
		want bool
	}{
		"latest":          {tag: "latest", want: true},
		"major":           {tag: "7", want: true},
		"minor":           {tag: "7.0", want: true},
		"full":            {tag: "7.0.15", want: true},
		"distribution":    {tag: "7.0-bookworm", want: true},
		"newer minor":     {tag: "7.2", want: false},
		"other patch":     {tag: "7.0.1", want: false},
		"prefix not dots": {tag: "7.0.1", want: false},
		"other major":     {tag: "6", want: false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tagMatches(tc.tag, "7.0.15"); got != tc.want {
				t.Errorf("tagMatches(%q, 7.0.15) = %v, want %v", tc.tag, got, tc.want)
			}
		})
	}
}

func TestSplitRef(t *testing.T) {
	tests := map[string]struct{ ref, name, tag string }{
		"plain":     {ref: "redis", name: "redis", tag: "latest"},
		"tag":       {ref: "redis:7.0", name: "redis", tag: "7.0"},
		"registry":  {ref: "docker.io/library/redis:7", name: "docker.io/library/redis", tag: "7"},
		"port":      {ref: "localhost:5000/haredis", name: "localhost:5000/haredis", tag: "latest"},
		"digest":    {ref: "redis:7@sha256:abc", name: "redis", tag: "7"},
		"namespace": {ref: "haredis/haredis:dev", name: "haredis/haredis", tag: "dev"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			n, tag := splitRef(tc.ref)
			if d := cmp.Diff([]string{tc.name, tc.tag}, []string{n, tag}); d != "" {
				t.Errorf("splitRef(%q) (-want +got):\n%s", tc.ref, d)
			}
		})
	}
}

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "1", "POD_IP": "10.0.0.2"}
	tests := map[string]struct{ in, want string }{
		"none":      {in: "plain", want: "plain"},
		"one":       {in: "$(POD_IP):6379", want: "10.0.0.2:6379"},
		"two":       {in: "$(A)-$(A)", want: "1-1"},
		"unknown":   {in: "$(NOPE)", want: "$(NOPE)"},
		"escaped":   {in: "$$(A)", want: "$(A)"},
		"unclosed":  {in: "$(A", want: "$(A"},
		"lone":      {in: "cost $5", want: "cost $5"},
		"trailing$": {in: "x$", want: "x$"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := expand(tc.in, vars); got != tc.want {
				t.Errorf("expand(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestContainerArgv(t *testing.T) {
	img := Image{Entrypoint: []string{"/entry"}, Cmd: []string{"serve"}}
	env := []string{"PORT=6379"}
	tests := map[string]struct {
		c    corev1.Container
		want []string
	}{
		"image default":    {c: corev1.Container{}, want: []string{"/entry", "serve"}},
		"args replace cmd": {c: corev1.Container{Args: []string{"--port", "$(PORT)"}}, want: []string{"/entry", "--port", "6379"}},
		"command wins":     {c: corev1.Container{Command: []string{"redis-server"}, Args: []string{"/etc/redis.conf"}}, want: []string{"redis-server", "/etc/redis.conf"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if d := cmp.Diff(tc.want, containerArgv(tc.c, img, env)); d != "" {
				t.Errorf("argv (-want +got):\n%s", d)
			}
		})
	}
}

func TestIPAMSkipsGatewayAndBroadcastAndReusesLast(t *testing.T) {
	a := newIPAM(netip.MustParsePrefix("10.244.1.0/29"))
	var got []string
	for {
		ip, ok := a.allocate()
		if !ok {
			break
		}
		got = append(got, ip.String())
	}
	want := []string{"10.244.1.2", "10.244.1.3", "10.244.1.4", "10.244.1.5", "10.244.1.6"}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("allocations (-want +got):\n%s", d)
	}
	a.release(netip.MustParseAddr("10.244.1.3"))
	if ip, ok := a.allocate(); !ok || ip.String() != "10.244.1.3" {
		t.Fatalf("after release got %v %v, want 10.244.1.3", ip, ok)
	}
}
