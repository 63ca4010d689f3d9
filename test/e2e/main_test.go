package e2e

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/redis/go-redis/v9"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/test/bed/cluster"
	"github.com/haredis/haredis/test/controlplane"
)

var (
	bed *cluster.Cluster
	kc  client.Client
)

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("skipping the end-to-end tests in -short mode")
		os.Exit(0)
	}
	if os.Geteuid() != 0 {
		fmt.Println("the test bed needs root; skipping")
		os.Exit(0)
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	root, err := controlplane.RepoRoot()
	if err != nil {
		fmt.Println(err)
		return 1
	}
	dir, err := os.MkdirTemp("", "haredis-e2e-")
	if err != nil {
		fmt.Println(err)
		return 1
	}
	defer os.RemoveAll(dir)
	haredis := filepath.Join(dir, "haredis")
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
	bed, err = cluster.Start(ctx, cluster.Options{
		HaredisBinary: haredis, CRDPaths: []string{filepath.Join(root, "config", "crd", "bases")},
		Log: logr.FromSlogHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
	})
	if err != nil {
		fmt.Printf("cannot start the bed: %v\n", err)
		return 1
	}
	defer func() {
		if err := bed.Stop(); err != nil {
			fmt.Printf("cannot stop the bed: %v\n", err)
		}
	}()
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = haredisv1.AddToScheme(scheme)
	if kc, err = client.New(bed.Config, client.Options{Scheme: scheme}); err != nil {
		fmt.Println(err)
		return 1
	}
	// The operator as users install it, one replica to spare the CPU.
	for _, args := range [][]string{
		{"apply", "-k", filepath.Join(root, "config")},
		{"-n", "haredis-system", "scale", "deployment/haredis-operator", "--replicas=1"},
		{"-n", "haredis-system", "rollout", "status", "deployment/haredis-operator", "--timeout=180s"},
	} {
		out, err := kubectl(ctx, args...)
		if err != nil {
			fmt.Printf("kubectl %v: %v\n%s", args, err, out)
			return 1
		}
	}
	code := m.Run()
	if code != 0 {
		out, _ := kubectl(context.Background(), "-n", "haredis-system", "logs", "deployment/haredis-operator", "--tail=200")
		fmt.Printf("operator log (last 200 lines):\n%s\n", out)
	}
	return code
}

func kubectl(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, bed.ControlPlane.KubectlPath, append([]string{"--kubeconfig=" + bed.KubeconfigPath}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// dial reaches Services and pods from inside the bed's network.
func dial(ctx context.Context, _, addr string) (net.Conn, error) { return bed.Dial(ctx, addr) }

func plainClient(addr, password string) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: addr, Password: password, Dialer: dial,
		DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second, MaxRetries: -1})
}
