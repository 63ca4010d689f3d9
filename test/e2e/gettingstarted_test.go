package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/haredis/haredis/test/bed/cluster"
	"github.com/haredis/haredis/test/controlplane"
)

// skipMarker, on the line before a shell block of a page, says the block
// shows alternatives that the page's test cannot run.
const skipMarker = "<!-- not run by the page's test"

// pageBlock is one fenced code block of a Markdown page.
type pageBlock struct {
	lang, text string
	skip       bool
}

// pageBlocks returns the fenced code blocks of a Markdown page in order.
func pageBlocks(page string) []pageBlock {
	var blocks []pageBlock
	var cur *pageBlock
	var b strings.Builder
	prev := ""
	sc := bufio.NewScanner(strings.NewReader(page))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case cur == nil && strings.HasPrefix(line, "```"):
			cur = &pageBlock{lang: strings.TrimPrefix(line, "```"), skip: strings.HasPrefix(prev, skipMarker)}
			b.Reset()
		case cur != nil && line == "```":
			cur.text = b.String()
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			b.WriteString(line + "\n")
		}
		prev = line
	}
	return blocks
}

// withoutComments drops YAML comments and trailing blanks, to compare
// what a page shows with the file it names.
func withoutComments(yaml string) string {
	var out []string
	for _, l := range strings.Split(yaml, "\n") {
		if i := strings.Index(l, "#"); i >= 0 {
			l = l[:i]
		}
		if l = strings.TrimRight(l, " "); l != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestGettingStartedPageWorks runs the shell commands of
// docs/getting-started.md in order, in one shell, as a new user would: it
// builds the image, installs the chart, creates the sample, connects with
// redis-cli through the URLs the page gives, runs the plugin, and deletes
// the RedisFailover. Only blocks the page marks as alternatives are left
// out. kubectl talks to the bed, and redis-cli runs inside the bed's
// network with its DNS, as it would in a pod.
func TestGettingStartedPageWorks(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	root, err := controlplane.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(root, "docs", "getting-started.md"))
	if err != nil {
		t.Fatal(err)
	}
	sample, err := os.ReadFile(filepath.Join(root, "config", "samples", "redisfailover.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var script strings.Builder
	script.WriteString("set -euo pipefail\n")
	shown := false
	for i, b := range pageBlocks(string(page)) {
		switch {
		case b.lang == "yaml" && strings.Contains(b.text, "kind: RedisFailover") && !shown:
			shown = true
			if withoutComments(b.text) != withoutComments(string(sample)) {
				t.Errorf("the page shows a sample that is not config/samples/redisfailover.yaml:\n%s", b.text)
			}
		case b.lang == "sh" && !b.skip:
			fmt.Fprintf(&script, "echo '### block %d'\n%s", i, b.text)
		}
	}
	if !shown {
		t.Fatal("the page shows no RedisFailover")
	}

	tools := t.TempDir()
	build := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(tools, "kubectl-haredis"), "./cmd/kubectl-haredis")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the plugin: %v\n%s", err, out)
	}
	redisCLI, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Fatal(err)
	}
	router := env.Bed.RouterNetns()
	wrappers := map[string]string{
		"helm": fmt.Sprintf("exec go tool -modfile=%s helm \"$@\"\n", filepath.Join(root, "hack", "tools", "go.mod")),
		// kube-proxy programs a new Service's rules a moment after its
		// endpoints are ready, which no status can see: a refused
		// connection is tried again for up to 10 s, nothing else is.
		"redis-cli": fmt.Sprintf(`for i in $(seq 20); do
  out=$(ip netns exec %s %s "$@" 2>&1); rc=$?
  case "$out" in *"Could not connect"*) sleep 0.5 ;; *) break ;; esac
done
printf '%%s\n' "$out"
exit $rc
`, router, redisCLI),
	}
	for name, body := range wrappers {
		if err := os.WriteFile(filepath.Join(tools, name), []byte("#!/bin/sh\n"+body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// ip netns exec gives the namespace this resolv.conf, as a pod in the
	// default namespace has.
	etc := filepath.Join("/etc/netns", router)
	if err := os.MkdirAll(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(etc) })
	resolv := fmt.Sprintf("nameserver %s\nsearch default.svc.%[2]s svc.%[2]s %[2]s\n", cluster.RouterAddr, cluster.ClusterDomain)
	if err := os.WriteFile(filepath.Join(etc, "resolv.conf"), []byte(resolv), 0o644); err != nil {
		t.Fatal(err)
	}

	withoutConfigOperator(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		for _, args := range [][]string{
			{"delete", "rf", "app", "-n", "default", "--ignore-not-found", "--wait"},
			{"delete", "pvc", "app-1", "app-2", "app-3", "-n", "default", "--ignore-not-found", "--wait=false"},
		} {
			if out, err := env.Kubectl(ctx, args...); err != nil {
				t.Logf("kubectl %v: %v\n%s", args, err, out)
			}
		}
		cmd := exec.CommandContext(ctx, filepath.Join(tools, "helm"), "uninstall", "haredis", "--namespace", "haredis-system", "--wait", "--timeout", "2m", "--kubeconfig", env.Bed.KubeconfigPath)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Logf("helm uninstall: %v\n%s", err, out)
		}
	})

	cmd := exec.CommandContext(ctx, "bash", "-c", script.String())
	cmd.Dir = root
	cmd.Env = append(os.Environ(),
		"KUBECONFIG="+env.Bed.KubeconfigPath,
		"PATH="+tools+":"+filepath.Dir(env.Bed.ControlPlane.KubectlPath)+":"+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	t.Logf("the page's commands:\n%s", out)
	if err != nil {
		dumpPods(t, "default")
		state, _ := env.Kubectl(context.Background(), "get", "rf,svc,endpointslices,secrets", "-n", "default", "-o", "wide")
		events, _ := env.Kubectl(context.Background(), "get", "events", "-n", "default", "--sort-by=.lastTimestamp")
		oplog, _ := env.Kubectl(context.Background(), "-n", "haredis-system", "logs", "deployment/haredis", "--tail=300")
		state += "\n" + events + "\n" + oplog
		t.Fatalf("the page's commands failed: %v\n%s", err, state)
	}
	for _, want := range []string{"PONG", "redis://", "redis+sentinel://"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the page's commands never printed %q", want)
		}
	}
	if !strings.Contains(string(out), "\nv\n") {
		t.Error("the read from app-replicas did not return the value written to app-primary")
	}
	// The page says the volumes stay after the delete.
	var pvcs corev1.PersistentVolumeClaimList
	if err := kc.List(ctx, &pvcs, client.InNamespace("default")); err != nil {
		t.Fatal(err)
	}
	kept := 0
	for _, p := range pvcs.Items {
		if strings.HasPrefix(p.Name, "app-") {
			kept++
		}
	}
	if kept != 3 {
		t.Errorf("%d volumes kept after kubectl delete rf app, want 3", kept)
	}
}
