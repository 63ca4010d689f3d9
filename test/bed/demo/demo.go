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

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/haredis/haredis/test/bed/cluster"
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
	c, err := cluster.Start(ctx, cluster.Options{Log: log})
	if err != nil {
		info.Error = err.Error()
		writeInfo(info)
		return err
	}
	defer func() {
		if err := c.Stop(); err != nil {
			log.Error(err, "cannot stop the bed cleanly")
		}
		_ = os.Remove(InfoPath)
	}()
	info.Dir, info.KubeconfigPath, info.KubectlPath = c.Dir, c.KubeconfigPath, c.ControlPlane.KubectlPath
	if err := deployRedis(ctx, c); err != nil {
		info.Error = err.Error()
		writeInfo(info)
		return err
	}
	info.RedisService = "redis.default.svc.cluster.local:6379"
	info.RedisAddr, err = c.Forward(ctx, 0, info.RedisService)
	if err != nil {
		info.Error = err.Error()
		writeInfo(info)
		return err
	}
	writeInfo(info)
	log.Info("demo bed running", "redis", info.RedisAddr, "kubeconfig", info.KubeconfigPath)
	<-ctx.Done()
	log.Info("stopping the demo bed")
	return nil
}

func writeInfo(info Info) {
	data, _ := json.MarshalIndent(info, "", "  ")
	tmp := InfoPath + ".tmp"
	if os.WriteFile(tmp, data, 0o644) == nil {
		_ = os.Rename(tmp, InfoPath)
	}
}

// deployRedis runs a plain Redis pod behind the Service `redis` (until the
// operator exists) and waits until it answers.
func deployRedis(ctx context.Context, c *cluster.Cluster) error {
	labels := map[string]string{"app": "redis"}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "redis", Namespace: "default", Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "redis", Image: "redis:7.0",
			Args:  []string{"redis-server", "--protected-mode", "no", "--save", ""},
			Ports: []corev1.ContainerPort{{Name: "redis", ContainerPort: 6379}},
			ReadinessProbe: &corev1.Probe{
				ProbeHandler:  corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"redis-cli", "ping"}}},
				PeriodSeconds: 1,
			},
		}}},
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "redis", Namespace: "default"},
		Spec:       corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Name: "redis", Port: 6379, TargetPort: intstr.FromString("redis")}}},
	}
	if _, err := c.Client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("cannot create the sample Redis pod: %w", err)
	}
	if _, err := c.Client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("cannot create the sample Redis Service: %w", err)
	}
	if err := c.WaitPodReady(ctx, "default", "redis", 2*time.Minute); err != nil {
		return err
	}
	// Ready is not routed yet: wait until kube-proxy sends the Service's
	// traffic to the pod.
	return cluster.WaitFor(ctx, time.Minute, func(ctx context.Context) (bool, error) {
		conn, err := c.Dial(ctx, "redis.default.svc.cluster.local:6379")
		if err != nil {
			return false, nil
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := conn.Write([]byte("PING\r\n")); err != nil {
			return false, nil
		}
		buf := make([]byte, 7)
		n, _ := io.ReadFull(conn, buf)
		return string(buf[:n]) == "+PONG\r\n", nil
	})
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
