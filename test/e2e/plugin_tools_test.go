package e2e

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/plugin"
	"github.com/haredis/haredis/internal/redistest"
	"github.com/haredis/haredis/test/controlplane"
)

// TestPluginTools runs the operator's tools of a platform user
// against one RedisFailover: redis-cli on the primary, a replica and the
// proxy; an RDB file of another Redis imported online; the logs of every
// pod, followed across a re-created sentinel pod; a support report that
// holds what it says and no secret; Spotahome manifests converted and
// taken by the API server; a fence that refuses writes and keeps reads;
// and a hibernation and a wake that keep the data.
func TestPluginTools(t *testing.T) {
	ns, rf, pw := newReadyRF(t, "tools", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	bin := buildPlugin(t)
	run := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, bin, append([]string{"--kubeconfig=" + env.Bed.KubeconfigPath, "-n", ns}, args...)...)
		out, err := cmd.Output()
		if err != nil {
			return string(out), fmt.Errorf("kubectl haredis %v: %w\n%s%s", args, err, out, stderrOf(err))
		}
		return string(out), nil
	}
	// must runs a verb that has to succeed, failing the (sub)test t.
	must := func(t *testing.T) func(args ...string) string {
		return func(args ...string) string {
			t.Helper()
			out, err := run(args...)
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
	}
	replica := ""
	for _, is := range rf.Status.Instances {
		if is.Name != rf.Status.CurrentPrimary {
			replica = is.Name
		}
	}

	t.Run("cli", func(t *testing.T) {
		haredis := must(t)
		if out := strings.TrimSpace(haredis("cli", "app", "--", "SET", "tools-key", "v1")); out != "OK" {
			t.Fatalf("SET on the primary: %q", out)
		}
		if out := strings.TrimSpace(haredis("cli", "app", "--", "GET", "tools-key")); out != "v1" {
			t.Errorf("GET on the primary: %q", out)
		}
		if out := haredis("cli", "app", replica, "--", "ROLE"); !strings.HasPrefix(out, "slave\n") {
			t.Errorf("ROLE on %s: %q, want a replica's", replica, out)
		}
		redistest.WaitFor(t, 30*time.Second, "the replica to have the key", func(context.Context) error {
			if out, err := run("cli", "app", replica, "--", "GET", "tools-key"); err != nil || strings.TrimSpace(out) != "v1" {
				return fmt.Errorf("%q %v", out, err)
			}
			return nil
		})
		if out := strings.TrimSpace(haredis("cli", "app", "--proxy", "--", "GET", "tools-key")); out != "v1" {
			t.Errorf("GET through the proxy: %q", out)
		}
		// Commands on stdin, as a script would pipe them.
		cmd := exec.CommandContext(ctx, bin, "--kubeconfig="+env.Bed.KubeconfigPath, "-n", ns, "cli", "app")
		cmd.Stdin = strings.NewReader("INCR tools-counter\nINCR tools-counter\n")
		if out, err := cmd.Output(); err != nil || strings.Fields(string(out))[1] != "2" {
			t.Errorf("commands on stdin: %q %v %s", out, err, stderrOf(err))
		}
		_, err := run("cli", "app", "app-99", "--", "PING")
		if err == nil || !strings.Contains(err.Error(), "app-99 is not an instance of RedisFailover app") {
			t.Errorf("unknown instance: %v", err)
		}
		if _, err := run("cli", "nope"); err == nil || !strings.Contains(err.Error(), `RedisFailover "nope" not found`) {
			t.Errorf("unknown RedisFailover: %v", err)
		}
	})

	t.Run("errors", func(t *testing.T) {
		// A name that does not exist: the error lists those that do.
		if _, err := run("status", "ap"); err == nil || !strings.Contains(err.Error(), `RedisFailover "ap" not found in namespace `+ns+"; it has app") {
			t.Errorf("unknown RedisFailover: %v", err)
		}
		// A user without the permission (impersonated, as kubectl's --as
		// does): the refused verb and resource, and how to check.
		_, err := run("--as", "system:serviceaccount:"+ns+":nobody", "status", "app")
		if err == nil || !strings.Contains(err.Error(), "permission denied: you may not get redisfailovers in namespace "+ns) ||
			!strings.Contains(err.Error(), "kubectl auth can-i get redisfailovers -n "+ns) {
			t.Errorf("forbidden: %v", err)
		}
	})

	t.Run("completion", func(t *testing.T) {
		// What the shell asks the binary for (cobra's __complete): the
		// RedisFailovers of the namespace, then the instances of one.
		haredis := must(t)
		if out := haredis("__complete", "status", ""); !strings.Contains(out, "app\n") {
			t.Errorf("completion of a RedisFailover name: %q", out)
		}
		out := haredis("__complete", "cli", "app", "")
		for _, is := range rf.Status.Instances {
			if !strings.Contains(out, is.Name+"\n") {
				t.Errorf("completion of an instance of app: %q, want %s", out, is.Name)
			}
		}
	})

	t.Run("status shows the volumes' use", func(t *testing.T) {
		// Each instance measures its volume; the status reports it as a
		// share of the PVC's capacity (on the bed a directory on a shared
		// disk: the files under the data directory).
		redistest.WaitFor(t, time.Minute, "every instance's volume use in the status", func(context.Context) error {
			out, err := run("status", "app", "-o", "json")
			if err != nil {
				return err
			}
			var r plugin.StatusReport
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				return err
			}
			for _, i := range r.Instances {
				if i.Volume == "" || i.VolumeUsedPercent == nil {
					return fmt.Errorf("%s: volume %q, used %v", i.Name, i.Volume, i.VolumeUsedPercent)
				}
				if u := *i.VolumeUsedPercent; u < 1 || u > 100 {
					return fmt.Errorf("%s: %d%% used, want 1 to 100 (the data directory is never empty)", i.Name, u)
				}
			}
			return nil
		})
		if out := must(t)("status", "app"); !strings.Contains(out, "% used") {
			t.Errorf("the status does not show the volumes' use:\n%s", out)
		}
	})

	t.Run("import", func(t *testing.T) {
		haredis := must(t)
		// An RDB file from another Redis, as redis-cli --rdb takes it.
		ds := redistest.Dataset{Prefix: "imported", N: 30}
		other, err := redistest.StartServer(redistest.ServerConfig{Password: "other-pw"})
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		oc := other.Client()
		defer oc.Close()
		if err := ds.Write(ctx, oc); err != nil {
			t.Fatal(err)
		}
		if err := oc.Set(ctx, "tools-key", "from-the-file", 0).Err(); err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(t.TempDir(), "dump.rdb")
		cli := exec.CommandContext(ctx, "redis-cli", "-p", strconv.Itoa(other.Port()), "--no-auth-warning", "--rdb", file)
		cli.Env = append(os.Environ(), "REDISCLI_AUTH=other-pw")
		if out, err := cli.CombinedOutput(); err != nil {
			t.Fatalf("redis-cli --rdb: %v\n%s", err, out)
		}
		out := haredis("import", "app", file, "-o", "json")
		var rep struct{ Keys, Imported, Skipped, Refused int64 }
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("import -o json: %v\n%s", err, out)
		}
		want := int64(len(ds.Keys())) + 1
		if rep.Keys != want || rep.Imported != want-1 || rep.Skipped != 1 || rep.Refused != 0 {
			t.Errorf("import report %+v, want %d keys, %d imported, tools-key skipped", rep, want, want-1)
		}
		cur, err := getRF(ctx, ns, "app")
		if err != nil {
			t.Fatal(err)
		}
		primary, err := getPod(ctx, ns, cur.Status.CurrentPrimary)
		if err != nil {
			t.Fatal(err)
		}
		pc := redis.NewClient(&redis.Options{Addr: podAddr(primary), Password: pw, Dialer: dial})
		defer pc.Close()
		if err := ds.Compare(ctx, oc, pc); err != nil {
			t.Errorf("after the import: %v", err)
		}
		if v, _ := pc.Get(ctx, "tools-key").Result(); v != "v1" {
			t.Errorf("tools-key, which existed, is %q after an import without --replace", v)
		}
		// The import pod is gone.
		var pods corev1.PodList
		if err := kc.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{"app.kubernetes.io/component": "import"}); err != nil {
			t.Fatal(err)
		}
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil {
				t.Errorf("import pod %s left behind", p.Name)
			}
		}
		// A file that is not an RDB writes nothing and says so.
		bad := filepath.Join(t.TempDir(), "bad.rdb")
		if err := os.WriteFile(bad, []byte("not an rdb file at all"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := run("import", "app", bad); err == nil || !strings.Contains(err.Error(), "not an RDB file") {
			t.Errorf("import of a non-RDB file: %v", err)
		}
	})

	t.Run("logs", func(t *testing.T) {
		haredis := must(t)
		out := haredis("logs", "app", "--tail", "3")
		var pods corev1.PodList
		if err := kc.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{"app.kubernetes.io/instance": "app"}); err != nil {
			t.Fatal(err)
		}
		for _, p := range pods.Items {
			main := p.Spec.Containers[0].Name
			if !strings.Contains(out, "["+p.Name+"/"+main+"] ") {
				t.Errorf("no line of %s/%s in:\n%s", p.Name, main, out)
			}
		}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if !strings.HasPrefix(line, "[app-") {
				t.Errorf("line without a pod prefix: %q", line)
			}
		}

		// Follow, and re-create a sentinel pod: its new run joins.
		fctx, fcancel := context.WithCancel(ctx)
		defer fcancel()
		cmd := exec.CommandContext(fctx, bin, "--kubeconfig="+env.Bed.KubeconfigPath, "-n", ns, "logs", "app", "-f", "--tail", "0")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = cmd.Wait() }()
		var mu sync.Mutex
		var lines []string
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				mu.Lock()
				lines = append(lines, sc.Text())
				mu.Unlock()
			}
		}()
		old := &corev1.Pod{}
		if err := kc.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app-sentinel-1"}, old); err != nil {
			t.Fatal(err)
		}
		if err := kc.Delete(ctx, old); err != nil {
			t.Fatal(err)
		}
		redistest.WaitFor(t, 2*time.Minute, "lines of the re-created sentinel in logs -f", func(ctx context.Context) error {
			p := &corev1.Pod{}
			if err := kc.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app-sentinel-1"}, p); err != nil || p.UID == old.UID {
				return fmt.Errorf("not re-created yet (%v)", err)
			}
			mu.Lock()
			defer mu.Unlock()
			// +monitor is written when a sentinel starts: with --tail 0
			// the old pod's lines cannot hold it.
			for _, l := range lines {
				if strings.HasPrefix(l, "[app-sentinel-1/sentinel] ") && strings.Contains(l, "+monitor") {
					return nil
				}
			}
			return fmt.Errorf("%d lines, none of the new sentinel's start", len(lines))
		})
		fcancel()
	})

	t.Run("report", func(t *testing.T) {
		haredis := must(t)
		file := filepath.Join(t.TempDir(), "app.tar.gz")
		out := haredis("report", "app", "-f", file, "--operator-namespace", "haredis-system")
		if !strings.Contains(out, "wrote "+file) {
			t.Errorf("report said %q", out)
		}
		files := readTarGz(t, file)
		for _, want := range []string{"README.txt", "status.txt", "events.yaml", "objects/redisfailover.yaml", "objects/pods.yaml",
			"objects/secrets.txt", "objects/services.yaml", "logs/" + rf.Status.CurrentPrimary + "/redis.log", "logs/app-sentinel-2/sentinel.log"} {
			if _, ok := files["app-report/"+want]; !ok {
				t.Errorf("the report has no %s; it has %v", want, keys(files))
			}
		}
		got := &haredisv1.RedisFailover{}
		if err := yaml.UnmarshalStrict(files["app-report/objects/redisfailover.yaml"], got); err != nil || got.Status.CurrentPrimary == "" {
			t.Errorf("redisfailover.yaml: %v (%+v)", err, got.Status)
		}
		if !bytes.Contains(files["app-report/status.txt"], []byte(rf.Status.CurrentPrimary)) {
			t.Errorf("status.txt does not name the primary:\n%s", files["app-report/status.txt"])
		}
		if len(files["app-report/logs/"+rf.Status.CurrentPrimary+"/redis.log"]) == 0 {
			t.Error("the primary's log is empty")
		}
		internal := &corev1.Secret{}
		if err := kc.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app-internal"}, internal); err != nil {
			t.Fatal(err)
		}
		secrets := map[string]string{"password": pw}
		for k, v := range internal.Data {
			if len(v) >= 6 {
				secrets["internal "+k] = string(v)
			}
		}
		for name, data := range files {
			for what, v := range secrets {
				if bytes.Contains(data, []byte(v)) {
					t.Errorf("%s holds the %s", name, what)
				}
			}
		}
		if !bytes.Contains(files["app-report/objects/secrets.txt"], []byte("app-auth")) {
			t.Errorf("secrets.txt does not list app-auth:\n%s", files["app-report/objects/secrets.txt"])
		}
		if _, err := run("report", "app", "-f", file); err == nil || !strings.Contains(err.Error(), "file exists") {
			t.Errorf("a second report to the same file: %v", err)
		}
	})

	t.Run("convert", func(t *testing.T) {
		haredis := must(t)
		root, err := controlplane.RepoRoot()
		if err != nil {
			t.Fatal(err)
		}
		out := haredis("convert", "-n", ns, filepath.Join(root, "internal/plugin/testdata/convert/persistence.input.yaml"))
		created := 0
		for _, doc := range strings.Split(out, "\n---\n") {
			if !strings.Contains(doc, "kind: RedisFailover") {
				continue
			}
			conv := &haredisv1.RedisFailover{}
			if err := yaml.UnmarshalStrict([]byte(doc), conv); err != nil {
				t.Fatalf("converted manifest: %v\n%s", err, doc)
			}
			// The API server (schema, defaults, CEL rules) takes it.
			if err := kc.Create(ctx, conv, client.DryRunAll); err != nil {
				t.Errorf("the API server refuses the converted %s: %v", conv.Name, err)
			}
			created++
		}
		if created != 3 {
			t.Errorf("%d RedisFailovers in the output, want 3 (orders, scratch, ledger):\n%s", created, out)
		}
	})

	t.Run("fence", func(t *testing.T) {
		haredis := must(t)
		if out := haredis("fence", "app"); !strings.Contains(out, "app is fenced") {
			t.Errorf("fence said:\n%s", out)
		}
		refused := func(args ...string) {
			t.Helper()
			out, err := run(args...)
			if !strings.Contains(out+fmt.Sprint(err), "NOREPLICAS") {
				t.Errorf("%v while fenced: %q %v", args, out, err)
			}
		}
		refused("cli", "app", "--", "SET", "fenced-write", "1")
		refused("cli", "app", "--proxy", "--", "SET", "fenced-write", "1")
		if v := strings.TrimSpace(haredis("cli", "app", "--", "GET", "tools-key")); v != "v1" {
			t.Errorf("a read while fenced: %q", v)
		}
		if st := haredis("status", "app"); !strings.Contains(st, "FENCED") {
			t.Errorf("status while fenced:\n%s", st)
		}
		if _, err := run("promote", "app", replica, "--wait", "1m"); err == nil || !strings.Contains(err.Error(), "Fenced") {
			t.Errorf("promote while fenced: %v", err)
		}
		// Asked for behind the plugin's back, the operator refuses it.
		cur, err := getRF(ctx, ns, "app")
		if err != nil {
			t.Fatal(err)
		}
		patch := client.MergeFrom(cur.DeepCopy())
		cur.Status.TargetPrimary = replica
		if err := kc.Status().Patch(ctx, cur, patch); err != nil {
			t.Fatal(err)
		}
		redistest.WaitFor(t, time.Minute, "the switchover refused while fenced", func(ctx context.Context) error {
			rf, err := getRF(ctx, ns, "app")
			if err != nil {
				return err
			}
			if ls := rf.Status.LastSwitchover; ls == nil || ls.Result != haredisv1.SwitchoverFailed || !strings.Contains(ls.Message, "spec.fenced") {
				return fmt.Errorf("last switchover %+v", ls)
			}
			if rf.Status.CurrentPrimary != cur.Status.CurrentPrimary || rf.Status.TargetPrimary != rf.Status.CurrentPrimary {
				return fmt.Errorf("primary %s, target %s", rf.Status.CurrentPrimary, rf.Status.TargetPrimary)
			}
			return nil
		})
		if out := haredis("unfence", "app"); !strings.Contains(out, "unfenced and Ready") {
			t.Errorf("unfence said:\n%s", out)
		}
		if out := strings.TrimSpace(haredis("cli", "app", "--", "SET", "after-fence", "1")); out != "OK" {
			t.Errorf("a write after unfence: %q", out)
		}
	})

	t.Run("promote", func(t *testing.T) {
		haredis := must(t)
		cur, err := getRF(ctx, ns, "app")
		if err != nil {
			t.Fatal(err)
		}
		to := ""
		for _, is := range cur.Status.Instances {
			if is.Name != cur.Status.CurrentPrimary && is.Ready {
				to = is.Name
			}
		}
		redistest.WaitFor(t, time.Minute, "Ready before the switchover", func(ctx context.Context) error {
			rf, err := getRF(ctx, ns, "app")
			if err != nil || !conditionTrue(rf, haredisv1.ConditionReady) {
				return fmt.Errorf("not Ready (%v)", err)
			}
			return nil
		})
		out := haredis("promote", "app", to, "--wait", "2m")
		if !strings.Contains(out, "switched over from "+cur.Status.CurrentPrimary+" to "+to) {
			t.Errorf("promote said:\n%s", out)
		}
		if v := strings.TrimSpace(haredis("cli", "app", "--", "GET", "after-fence")); v != "1" {
			t.Errorf("a key after the switchover: %q", v)
		}
		if role := haredis("cli", "app", to, "--", "ROLE"); !strings.HasPrefix(role, "master\n") {
			t.Errorf("%s after the switchover: %q", to, role)
		}
	})

	t.Run("hibernate", func(t *testing.T) {
		haredis := must(t)
		if out := strings.TrimSpace(haredis("cli", "app", "--", "SET", "before-hibernation", "kept")); out != "OK" {
			t.Fatalf("SET: %q", out)
		}
		out := haredis("hibernate", "on", "app", "--wait", "3m")
		if !strings.Contains(out, "app is hibernated") {
			t.Errorf("hibernate on said:\n%s", out)
		}
		var pods corev1.PodList
		if err := kc.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{"app.kubernetes.io/instance": "app"}); err != nil {
			t.Fatal(err)
		}
		for _, p := range pods.Items {
			t.Errorf("pod %s still exists while hibernated (deleting: %v)", p.Name, p.DeletionTimestamp != nil)
		}
		var pvcs corev1.PersistentVolumeClaimList
		if err := kc.List(ctx, &pvcs, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		if len(pvcs.Items) != len(rf.Status.Instances) {
			t.Errorf("%d volumes while hibernated, want %d", len(pvcs.Items), len(rf.Status.Instances))
		}
		if st := haredis("status", "app"); !strings.Contains(st, "HIBERNATED") {
			t.Errorf("status while hibernated:\n%s", st)
		}
		if _, err := run("cli", "app", "--", "PING"); err == nil || !strings.Contains(err.Error(), "hibernate off app") {
			t.Errorf("cli while hibernated: %v", err)
		}
		out = haredis("hibernate", "off", "app", "--wait", "5m")
		if !strings.Contains(out, "app is awake and Ready") {
			t.Errorf("hibernate off said:\n%s", out)
		}
		if v := strings.TrimSpace(haredis("cli", "app", "--", "GET", "before-hibernation")); v != "kept" {
			t.Errorf("after waking: %q", v)
		}
		if v := strings.TrimSpace(haredis("cli", "app", "--", "GET", "tools-key")); v != "v1" {
			t.Errorf("tools-key after waking: %q", v)
		}
		if out := strings.TrimSpace(haredis("cli", "app", "--", "SET", "after-hibernation", "1")); out != "OK" {
			t.Errorf("a write after waking: %q", out)
		}
	})
}

// readTarGz returns the regular files of a gzipped tar by name.
func readTarGz(t *testing.T, path string) map[string][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	out := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = data
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
