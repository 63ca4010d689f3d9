package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/haredis/haredis/internal/atomicfile"

	"github.com/go-logr/logr"
	"github.com/redis/go-redis/v9"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/test/bed/cluster"
	"github.com/haredis/haredis/test/controlplane"
	"github.com/haredis/haredis/test/operatorbed"
)

// InfoPath describes the running demo bed.
const InfoPath = "/run/haredis-bed-demo.json"

// Info is what `up` tells the user and what `down` needs.
type Info struct {
	PID            int    `json:"pid"`
	Dir            string `json:"dir"`
	LogPath        string `json:"logPath"`
	KubeconfigPath string `json:"kubeconfig"`
	KubectlPath    string `json:"kubectl"`
	RedisAddr      string `json:"redisAddr"`
	RedisService   string `json:"redisService"`
	PrimaryService string `json:"primaryService"`
	Name           string `json:"name"`
	Password       string `json:"password"`
	SentinelURL    string `json:"sentinelURL"`
	Error          string `json:"error,omitempty"`
}

func readInfo() (*Info, error) {
	data, err := os.ReadFile(InfoPath)
	if err != nil {
		return nil, err
	}
	var info Info
	if err := json.Unmarshal(data, &info); err != nil {
		return nil, fmt.Errorf("cannot decode %s: %w", InfoPath, err)
	}
	return &info, nil
}

// Up starts the daemon (this binary with `serve`) and waits until the bed
// and the sample Redis are up.
func Up(ctx context.Context, out io.Writer, timeout time.Duration) (*Info, error) {
	if info, err := readInfo(); err == nil && info.PID > 0 && syscall.Kill(info.PID, 0) == nil {
		return info, fmt.Errorf("a demo bed is already running (pid %d); run `make demo-down` first", info.PID)
	}
	_ = os.Remove(InfoPath)
	if cleaned, err := cluster.CleanupStale(ctx); err != nil {
		return nil, err
	} else if len(cleaned) > 0 {
		fmt.Fprintf(out, "removed what crashed beds left: %s\n", strings.Join(cleaned, ", "))
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(os.TempDir(), "haredis-bed-demo.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("cannot create demo log: %w", err)
	}
	defer logFile.Close()
	cmd := exec.Command(self, "serve", "--log", logPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Dir = mustGetwd()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("cannot start the bed daemon: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(timeout)
	for {
		if info, err := readInfo(); err == nil && info.PID == cmd.Process.Pid {
			if info.Error != "" {
				return nil, fmt.Errorf("the bed did not start: %s (log: %s)", info.Error, logPath)
			}
			return info, nil
		}
		select {
		case err := <-exited:
			return nil, fmt.Errorf("the bed daemon exited: %v; its log %s ends with:\n%s", err, logPath, tailFile(logPath, 3000))
		case <-deadline:
			return nil, fmt.Errorf("the bed did not start within %s; log: %s", timeout, logPath)
		case <-time.After(300 * time.Millisecond):
		}
	}
}

func mustGetwd() string {
	wd, _ := os.Getwd()
	return wd
}

func tailFile(path string, n int) string {
	data, _ := os.ReadFile(path)
	if len(data) > n {
		data = data[len(data)-n:]
	}
	return string(data)
}

// Serve is the daemon: it starts the bed and the sample Redis, writes
// InfoPath, and stops everything on SIGTERM or SIGINT.
func Serve(ctx context.Context, log logr.Logger, logPath string) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	info := Info{PID: os.Getpid(), LogPath: logPath}
	fail := func(err error) error {
		info.Error = err.Error()
		writeInfo(info)
		return err
	}
	env, err := operatorbed.Start(ctx, log)
	if err != nil {
		return fail(err)
	}
	defer func() {
		if err := env.Stop(); err != nil {
			log.Error(err, "cannot stop the bed cleanly")
		}
		_ = os.Remove(InfoPath)
	}()
	c := env.Bed
	info.Dir, info.KubeconfigPath, info.KubectlPath = c.Dir, c.KubeconfigPath, c.ControlPlane.KubectlPath
	rf, err := deploySample(ctx, env)
	if err != nil {
		return fail(err)
	}
	info.Name = rf.Name
	// REDIS_URL: the Service NAME, through the proxy.
	info.RedisService = strings.TrimPrefix(rf.Status.Endpoints.RedisURL, "redis://")
	info.PrimaryService = rf.Status.Endpoints.Primary
	info.SentinelURL = rf.Status.Endpoints.SentinelURL
	if info.Password, err = samplePassword(ctx, c, rf); err != nil {
		return fail(err)
	}
	if err := waitServing(ctx, env, info.RedisService, info.Password); err != nil {
		return fail(err)
	}
	if info.RedisAddr, err = c.Forward(ctx, 0, info.RedisService); err != nil {
		return fail(err)
	}
	writeInfo(info)
	log.Info("demo bed running", "redis", info.RedisAddr, "kubeconfig", info.KubeconfigPath)
	<-ctx.Done()
	log.Info("stopping the demo bed")
	return nil
}

func writeInfo(info Info) {
	data, _ := json.MarshalIndent(info, "", "  ")
	// 0600: it holds the sample's password.
	_ = atomicfile.Write(InfoPath, data, 0o600)
}

// deploySample applies config/samples/redisfailover.yaml, as a user would,
// and waits until the operator reports it Ready.
func deploySample(ctx context.Context, env *operatorbed.Env) (*haredisv1.RedisFailover, error) {
	root, err := controlplane.RepoRoot()
	if err != nil {
		return nil, err
	}
	if out, err := env.Kubectl(ctx, "apply", "-n", "default", "-f", filepath.Join(root, "config", "samples", "redisfailover.yaml")); err != nil {
		return nil, fmt.Errorf("cannot apply the sample RedisFailover: %w\n%s", err, out)
	}
	rf := &haredisv1.RedisFailover{}
	err = cluster.WaitFor(ctx, 4*time.Minute, func(ctx context.Context) (bool, error) {
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "default", Name: "app"}, rf); err != nil {
			return false, nil
		}
		return rf.Status.Phase == haredisv1.PhaseReady && rf.Status.Endpoints.Primary != "", nil
	})
	if err != nil {
		return nil, fmt.Errorf("the sample RedisFailover did not become Ready (phase %q): %w\noperator log:\n%s", rf.Status.Phase, err, env.OperatorLog(ctx, 40))
	}
	return rf, nil
}

// waitServing waits until REDIS_URL answers PING from inside the bed: the
// proxies are ready, and kube-proxy routes the Service to them.
func waitServing(ctx context.Context, env *operatorbed.Env, addr, password string) error {
	c := redis.NewClient(&redis.Options{Addr: addr, Password: password, Dialer: env.Dial, MaxRetries: -1,
		DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second})
	defer c.Close()
	var last error
	err := cluster.WaitFor(ctx, time.Minute, func(ctx context.Context) (bool, error) {
		last = c.Ping(ctx).Err()
		return last == nil, nil
	})
	if err != nil {
		return fmt.Errorf("REDIS_URL %s does not answer PING: %v: %w", addr, last, err)
	}
	return nil
}

func samplePassword(ctx context.Context, c *cluster.Cluster, rf *haredisv1.RedisFailover) (string, error) {
	secret, err := c.Client.CoreV1().Secrets(rf.Namespace).Get(ctx, rf.AuthSecretName(), metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("cannot read the sample's password: %w", err)
	}
	return string(secret.Data["password"]), nil
}

// Down stops the daemon (which removes the bed) and then removes anything a
// crashed daemon left.
func Down(ctx context.Context, out io.Writer) error {
	info, err := readInfo()
	if err == nil && info.PID > 0 && syscall.Kill(info.PID, 0) == nil {
		fmt.Fprintf(out, "stopping the demo bed (pid %d)\n", info.PID)
		_ = syscall.Kill(info.PID, syscall.SIGTERM)
		deadline := time.Now().Add(2 * time.Minute)
		for syscall.Kill(info.PID, 0) == nil && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
		}
		if syscall.Kill(info.PID, 0) == nil {
			_ = syscall.Kill(info.PID, syscall.SIGKILL)
			for syscall.Kill(info.PID, 0) == nil {
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
	_ = os.Remove(InfoPath)
	cleaned, err := cluster.CleanupStale(ctx)
	if len(cleaned) > 0 {
		fmt.Fprintf(out, "removed leftovers of beds %s\n", strings.Join(cleaned, ", "))
	}
	if err != nil {
		return err
	}
	left := cluster.AllLeftovers(ctx)
	if len(left) > 0 {
		return errors.New("still present after down: " + strings.Join(left, ", "))
	}
	fmt.Fprintln(out, "demo bed removed: no processes, namespaces, links, rules or mounts left")
	return nil
}

// Status prints the running demo bed.
func Status(ctx context.Context, out io.Writer) error {
	info, err := readInfo()
	if err != nil || syscall.Kill(info.PID, 0) != nil {
		fmt.Fprintln(out, "no demo bed is running")
		return nil
	}
	fmt.Fprintf(out, "demo bed pid %d, state in %s, log %s\n", info.PID, info.Dir, info.LogPath)
	for _, args := range [][]string{{"get", "nodes", "-L", "topology.kubernetes.io/zone"}, {"get", "pods,svc", "-A", "-o", "wide"}} {
		cmd := exec.CommandContext(ctx, info.KubectlPath, append([]string{"--kubeconfig", info.KubeconfigPath}, args...)...)
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Run(); err != nil {
			return err
		}
	}
	return nil
}
