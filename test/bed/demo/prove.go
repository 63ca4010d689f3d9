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
	inCluster, _, _ := strings.Cut(info.RedisService, ":")
	cli := []string{"redis-cli", "--no-auth-warning", "-a", info.Password}
	steps := [][]string{
		append(append([]string{}, cli...), "-h", host, "-p", port, "PING"),
		append(append([]string{}, cli...), "-h", host, "-p", port, "SET", "greeting", "hello from haredis"),
		append(append([]string{}, cli...), "-h", host, "-p", port, "GET", "greeting"),
		append([]string{info.KubectlPath, "--kubeconfig", info.KubeconfigPath, "exec", info.Name + "-2", "-c", "redis", "--"}, append(append([]string{}, cli...), "-h", inCluster, "GET", "greeting")...),
	}
	local := fmt.Sprintf("redis-cli -a *** -h %s -p %s", host, port)
	shown := []string{
		local + " PING",
		local + " SET greeting 'hello from haredis'",
		local + " GET greeting",
		fmt.Sprintf("kubectl exec %s-2 -c redis -- redis-cli -a ... -h %s GET greeting", info.Name, inCluster),
	}
	want := []string{"PONG", "OK", "hello from haredis", "hello from haredis"}
	for i, s := range steps {
		got, err := exec.CommandContext(ctx, s[0], s[1:]...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s failed: %w: %s", shown[i], err, got)
		}
		if strings.TrimSpace(string(got)) != want[i] {
			return fmt.Errorf("%s answered %q, want %q", shown[i], strings.TrimSpace(string(got)), want[i])
		}
		fmt.Fprintf(out, "  $ %s\n  %s\n", shown[i], strings.TrimSpace(string(got)))
	}
	return nil
}

// PrintUsage tells the user how to use and remove the bed.
func PrintUsage(out io.Writer, info *Info) {
	fmt.Fprintf(out, `
The bed is running in the background (pid %d), with the haredis operator in
namespace haredis-system and the RedisFailover %q (config/samples) in default.

  REDIS_URL=redis://default:%s@%s      (forwarded to %s, the proxy)
  In the cluster: redis://%s   (password: Secret %s-auth, key password)
  Primary:        %s
  Sentinel:       %s
  export KUBECONFIG=%s
  %s get rf,pods -o wide
  %s get nodes -L topology.kubernetes.io/zone

Daemon log: %s
State:      %s
Status:     make demo-status   (or bin/haredis-bed status)
Remove it:  make demo-down     (removes every process, namespace, link, rule and mount)
`, info.PID, info.Name, info.Password, info.RedisAddr, info.RedisService, info.RedisService, info.Name, info.PrimaryService, info.SentinelURL,
		info.KubeconfigPath, info.KubectlPath, info.KubectlPath, info.LogPath, info.Dir)
}
