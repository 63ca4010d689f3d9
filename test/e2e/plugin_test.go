package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/plugin"
	"github.com/haredis/haredis/internal/redistest"
	"github.com/haredis/haredis/test/controlplane"
)

// TestPluginSentinelFormatsAcrossFailover connects with what `kubectl
// haredis sentinel-url` prints: the go-redis URL from this process, the
// redis-py and redis-rb code with Debian's client libraries in a pod that
// gets the connection Secret as its environment. Each client writes, the
// primary's redis-server is killed, and the same clients write again once
// the sentinels promoted a replica.
func TestPluginSentinelFormatsAcrossFailover(t *testing.T) {
	ns, rf, pw := newReadyRF(t, "plugin", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	bin := buildPlugin(t)
	haredis := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, bin, append([]string{"--kubeconfig=" + env.Bed.KubeconfigPath, "-n", ns}, args...)...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("kubectl haredis %v: %v\n%s", args, err, stderrOf(err))
		}
		return string(out)
	}

	// go-redis: the URL for ParseFailoverURL, with the password.
	goURL := strings.TrimSpace(haredis("sentinel-url", "app", "--format", "go-redis", "--show-password"))
	opts, err := redis.ParseFailoverURL(goURL)
	if err != nil {
		t.Fatalf("ParseFailoverURL(%s): %v", strings.ReplaceAll(goURL, pw, plugin.Hidden), err)
	}
	opts.Dialer = dial
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = time.Second, 2*time.Second, time.Second
	goClient := redis.NewFailoverClient(opts)
	defer goClient.Close()
	write := func(c *redis.Client, key string) {
		t.Helper()
		redistest.WaitFor(t, 60*time.Second, "a write of "+key+" through the go-redis form", func(ctx context.Context) error {
			return c.Set(ctx, key, "1", 0).Err()
		})
	}
	write(goClient, "go-before")

	// REDIS_URL with the password, through the proxies.
	redisURL := strings.TrimSpace(haredis("url", "app", "--show-password"))
	uo, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	uo.Dialer = dial
	viaURL := redis.NewClient(uo)
	defer viaURL.Close()
	if v, err := viaURL.Get(ctx, "go-before").Result(); err != nil || v != "1" {
		t.Errorf("read through REDIS_URL: %q %v", v, err)
	}

	// redis-py and redis-rb: the code as printed (it reads REDIS_PASSWORD
	// from the environment), run in a pod with the connection Secret.
	pyCode := haredis("sentinel-url", "app", "--format", "redis-py")
	rbCode := haredis("sentinel-url", "app", "--format", "redis-rb")
	t.Logf("redis-py form:\n%s\nredis-rb form:\n%s", pyCode, rbCode)
	startClientPod(t, ns, rf.ConnectionSecretName())
	py := startScript(ctx, t, ns, "/usr/bin/python3", "-c", pythonScript(pyCode), "py-before", "py-after")
	rb := startScript(ctx, t, ns, "ruby", "-e", rubyScript(rbCode), "rb-before", "rb-after")
	for _, key := range []string{"py-before", "rb-before"} {
		redistest.WaitFor(t, 90*time.Second, key+" written by its client", func(ctx context.Context) error {
			return goClient.Get(ctx, key).Err()
		})
	}

	// SIGKILL of the primary's redis-server.
	oldName := rf.Status.CurrentPrimary
	oldPod, err := getPod(ctx, ns, oldName)
	if err != nil {
		t.Fatal(err)
	}
	st, err := instanceStatus(ctx, oldPod)
	if err != nil || st.RedisPID == 0 {
		t.Fatalf("cannot read the primary's redis-server pid: %v", err)
	}
	killed := time.Now()
	if err := syscall.Kill(st.RedisPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	rf = waitFor2(t, ns, "app", 90*time.Second, "a new primary", func(rf *haredisv1.RedisFailover) error {
		if rf.Status.CurrentPrimary == oldName {
			return fmt.Errorf("current primary still %s", oldName)
		}
		return nil
	})
	t.Logf("%s is primary %.1fs after the SIGKILL of %s", rf.Status.CurrentPrimary, time.Since(killed).Seconds(), oldName)

	// The same clients write again.
	write(goClient, "go-after")
	py.resume(t)
	rb.resume(t)
	for name, s := range map[string]*script{"redis-py": py, "redis-rb": rb} {
		out := s.wait(t)
		t.Logf("%s printed:\n%s", name, out)
		if !strings.Contains(out, "ok "+s.after) {
			t.Errorf("the %s form did not write across the failover:\n%s", name, out)
		}
	}
	for _, key := range []string{"go-before", "py-before", "rb-before", "go-after", "py-after", "rb-after"} {
		if v, err := goClient.Get(ctx, key).Result(); err != nil || v != "1" {
			t.Errorf("%s: %q %v", key, v, err)
		}
	}

	// status reads the failover from the bed.
	var r plugin.StatusReport
	if err := json.Unmarshal([]byte(haredis("status", "app", "-o", "json")), &r); err != nil {
		t.Fatal(err)
	}
	if r.FailoverCount < 1 || r.Primary == oldName || len(r.Instances) != 3 || r.Instances[0].Node == "" || r.Instances[0].Zone == "" {
		t.Errorf("status after the failover: %+v", r)
	}
	// Each sentinel's view: all name the new primary, at an epoch above 0
	// (the failover took a new one).
	redistest.WaitFor(t, time.Minute, "every sentinel's view naming the new primary in kubectl haredis status", func(context.Context) error {
		var r plugin.StatusReport
		if err := json.Unmarshal([]byte(haredis("status", "app", "-o", "json")), &r); err != nil {
			return err
		}
		if len(r.Sentinels.Pods) == 0 {
			return fmt.Errorf("no sentinel in the report")
		}
		for _, p := range r.Sentinels.Pods {
			if v := p.View; v == nil || v.Primary != r.Primary || v.ConfigEpoch < 1 || v.Problem != "" {
				return fmt.Errorf("%s names %+v, the primary is %s", p.Name, v, r.Primary)
			}
		}
		return nil
	})
	t.Logf("kubectl haredis status:\n%s", haredis("status", "app"))
}

func buildPlugin(t *testing.T) string {
	t.Helper()
	root, err := controlplane.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "kubectl-haredis")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/kubectl-haredis")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cannot build kubectl-haredis: %v\n%s", err, out)
	}
	return bin
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}

// startClientPod starts pod client, idle, with the connection Secret as
// its environment, as an application would have it.
func startClientPod(t *testing.T, ns, secret string) {
	t.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "client", Namespace: ns},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "client", Image: "redis:7.0", Command: []string{"sleep", "3600"},
			EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: secret}}}},
		}}},
	}
	if err := kc.Create(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if err := env.Bed.WaitPodReady(context.Background(), ns, "client", 2*time.Minute); err != nil {
		t.Fatal(err)
	}
}

// script is a client program running in the client pod: it writes its
// first key, waits for a line on its standard input, writes the second.
type script struct {
	after   string
	resumeW *io.PipeWriter
	done    chan string
}

func startScript(ctx context.Context, t *testing.T, ns string, argv ...string) *script {
	t.Helper()
	r, w := io.Pipe()
	s := &script{after: argv[len(argv)-1], resumeW: w, done: make(chan string, 1)}
	go func() {
		out, errOut, code, err := env.Bed.ExecStdin(ctx, ns, "client", "", r, argv...)
		s.done <- fmt.Sprintf("%s%s(exit %d, %v)", out, errOut, code, err)
	}()
	return s
}

func (s *script) resume(t *testing.T) {
	if _, err := s.resumeW.Write([]byte("\n")); err != nil {
		t.Errorf("cannot resume the script: %v", err)
	}
	s.resumeW.Close()
}

func (s *script) wait(t *testing.T) string {
	select {
	case out := <-s.done:
		return out
	case <-time.After(2 * time.Minute):
		t.Errorf("the script did not end")
		return ""
	}
}

// pythonScript runs the redis-py form: write argv[1], wait for a line,
// write argv[2], retrying each write for up to a minute as an application
// would.
func pythonScript(form string) string {
	return "import sys, time\n" + form + `
def write(key):
    deadline = time.time() + 60
    while True:
        try:
            client.set(key, "1")
            print("ok", key, flush=True)
            return
        except Exception as e:
            if time.time() > deadline:
                print("error", key, repr(e), flush=True)
                sys.exit(1)
            time.sleep(0.2)

write(sys.argv[1])
sys.stdin.readline()
write(sys.argv[2])
`
}

// rubyScript runs the redis-rb form the same way.
func rubyScript(form string) string {
	return "require 'redis'\n" + form + `
$stdout.sync = true
client = Redis.new(REDIS_CONFIG)
def write(client, key)
  deadline = Time.now + 60
  begin
    client.set(key, "1")
    puts "ok #{key}"
  rescue => e
    if Time.now < deadline
      sleep 0.2
      retry
    end
    puts "error #{key} #{e.class}: #{e.message}"
    exit 1
  end
end

write(client, ARGV[0])
STDIN.gets
write(client, ARGV[1])
`
}
