package demo

import (
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
)

// Prove talks to the sample Redis the way a user would: PING, SET and GET
// through the forwarded address on the host, and by its cluster DNS name
// from inside the pod.
func Prove(ctx context.Context, out io.Writer, info *Info) error {
	host, port, err := net.SplitHostPort(info.RedisAddr)
	if err != nil {
		return err
	}
	steps := [][]string{
		{"redis-cli", "-h", host, "-p", port, "PING"},
		{"redis-cli", "-h", host, "-p", port, "SET", "greeting", "hello from the bed"},
		{"redis-cli", "-h", host, "-p", port, "GET", "greeting"},
		{info.KubectlPath, "--kubeconfig", info.KubeconfigPath, "exec", "redis", "--", "redis-cli", "-h", "redis.default.svc.cluster.local", "GET", "greeting"},
	}
	want := []string{"PONG", "OK", "hello from the bed", "hello from the bed"}
	for i, s := range steps {
		got, err := exec.CommandContext(ctx, s[0], s[1:]...).CombinedOutput()
		shown := strings.Join(s, " ")
		if i == 3 {
			shown = "kubectl exec redis -- redis-cli -h redis.default.svc.cluster.local GET greeting"
		}
		if err != nil {
			return fmt.Errorf("%s failed: %w: %s", shown, err, got)
		}
		if strings.TrimSpace(string(got)) != want[i] {
			return fmt.Errorf("%s answered %q, want %q", shown, strings.TrimSpace(string(got)), want[i])
		}
		fmt.Fprintf(out, "  $ %s\n  %s\n", shown, strings.TrimSpace(string(got)))
	}
	return nil
}

// PrintUsage tells the user how to use and remove the bed.
func PrintUsage(out io.Writer, info *Info) {
	fmt.Fprintf(out, `
The bed is running in the background (pid %d).

  REDIS_URL=redis://%s          (forwarded to Service redis.default.svc.cluster.local:6379)
  export KUBECONFIG=%s
  %s get nodes -L topology.kubernetes.io/zone
  %s exec -it redis -- redis-cli

Daemon log: %s
State:      %s
Status:     make demo-status   (or bin/haredis-bed status)
Remove it:  make demo-down     (removes every process, namespace, link, rule and mount)
`, info.PID, info.RedisAddr, info.KubeconfigPath, info.KubectlPath, info.KubectlPath, info.LogPath, info.Dir)
}
