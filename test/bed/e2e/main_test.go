package e2e

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/haredis/haredis/test/bed/cluster"
	"github.com/haredis/haredis/test/controlplane"
)

// bed is shared by every test of the package.
var bed *cluster.Cluster

func TestMain(m *testing.M) {
	flag.Parse()
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild())
	}
	if testing.Short() {
		fmt.Println("skipping the test bed's end-to-end tests in -short mode")
		os.Exit(0)
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Geteuid() != 0 {
		fmt.Println("the test bed needs root; skipping")
		return 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "haredis-bed-e2e-")
	if err != nil {
		fmt.Println(err)
		return 1
	}
	defer os.RemoveAll(dir)
	haredis := filepath.Join(dir, "haredis")
	root, err := controlplane.RepoRoot()
	if err != nil {
		fmt.Println(err)
		return 1
	}
	build := exec.CommandContext(ctx, "go", "build", "-o", haredis, "./cmd/haredis")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Printf("cannot build haredis: %v\n%s", err, out)
		return 1
	}
	level := slog.LevelWarn
	if os.Getenv("BED_VERBOSE") != "" {
		level = slog.LevelInfo
	}
	log := logr.FromSlogHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	bed, err = cluster.Start(ctx, cluster.Options{HaredisBinary: haredis, Log: log})
	if err != nil {
		fmt.Printf("cannot start the bed: %v\n", err)
		return 1
	}
	code := m.Run()
	if err := bed.Stop(); err != nil {
		fmt.Printf("cannot stop the bed: %v\n", err)
		code = 1
	}
	// Nothing may be left behind: processes, namespaces (with their links
	// and iptables rules), mounts, loop devices, files.
	if left := bed.Leftovers(context.Background()); len(left) > 0 {
		fmt.Printf("FAIL: the bed left behind: %s\n", strings.Join(left, ", "))
		code = 1
	}
	return code
}

// namespace creates a namespace for one test and deletes it afterwards.
func namespace(t *testing.T) string {
	t.Helper()
	name := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	if len(name) > 50 {
		name = name[:50]
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := bed.Client.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("cannot create namespace: %v", err)
	}
	// The ServiceAccount controller creates `default`; pods need it.
	waitFor(t, time.Minute, "default service account", func(ctx context.Context) (bool, error) {
		_, err := bed.Client.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	t.Cleanup(func() {
		_ = bed.Client.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	return name
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	if err := cluster.WaitFor(context.Background(), timeout, cond); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func createPod(t *testing.T, pod *corev1.Pod) *corev1.Pod {
	t.Helper()
	out, err := bed.Client.CoreV1().Pods(pod.Namespace).Create(context.Background(), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("cannot create pod %s: %v", pod.Name, err)
	}
	return out
}

func getPod(t *testing.T, ns, name string) *corev1.Pod {
	t.Helper()
	pod, err := bed.Client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("cannot read pod %s: %v", name, err)
	}
	return pod
}

func waitReady(t *testing.T, ns, name string) {
	t.Helper()
	if err := bed.WaitPodReady(context.Background(), ns, name, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
}

// redisPod runs redis-server reachable from other pods.
func redisPod(ns, name string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{redisContainer()}},
	}
}

func redisContainer() corev1.Container {
	return corev1.Container{
		Name: "redis", Image: "redis:7.0.15",
		Command: []string{"redis-server", "--protected-mode", "no", "--save", "", "--appendonly", "no"},
		Ports:   []corev1.ContainerPort{{Name: "redis", ContainerPort: 6379}},
		ReadinessProbe: &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"redis-cli", "ping"}}},
			PeriodSeconds: 1,
		},
	}
}

// clientPod idles so that tests can exec redis-cli in it.
func clientPod(ns, name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "client", Image: "redis:7.0", Command: []string{"sleep", "3600"},
		}}},
	}
}

// redisCLI runs redis-cli in the client pod and returns its trimmed output.
func redisCLI(t *testing.T, ns, pod string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, errOut, code, err := bed.Exec(ctx, ns, pod, "", append([]string{"timeout", "3", "redis-cli"}, args...)...)
	if err != nil {
		return "", err
	}
	if code != 0 || strings.Contains(out, "Could not connect") {
		return "", fmt.Errorf("redis-cli %v exited %d: %s %s", args, code, out, errOut)
	}
	return strings.TrimSpace(out), nil
}
