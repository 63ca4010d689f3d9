package cluster

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/haredis/haredis/test/bed/netns"
)

// WaitPodReady waits until the pod's Ready condition is True.
func (c *Cluster) WaitPodReady(ctx context.Context, namespace, name string, timeout time.Duration) error {
	var last *corev1.Pod
	err := WaitFor(ctx, timeout, func(ctx context.Context) (bool, error) {
		pod, err := c.Client.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = pod
		for _, cond := range pod.Status.Conditions {
			if cond.Type == corev1.PodReady {
				return cond.Status == corev1.ConditionTrue, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("pod %s/%s is not ready: %w (%s)", namespace, name, err, describe(last))
	}
	return nil
}

func describe(pod *corev1.Pod) string {
	if pod == nil {
		return "not found"
	}
	parts := []string{"phase " + string(pod.Status.Phase), "node " + pod.Spec.NodeName}
	for _, s := range append(pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses...) {
		switch {
		case s.State.Waiting != nil:
			parts = append(parts, fmt.Sprintf("%s waiting %s: %s", s.Name, s.State.Waiting.Reason, s.State.Waiting.Message))
		case s.State.Terminated != nil:
			parts = append(parts, fmt.Sprintf("%s exited %d", s.Name, s.State.Terminated.ExitCode))
		default:
			parts = append(parts, fmt.Sprintf("%s running ready=%v restarts=%d", s.Name, s.Ready, s.RestartCount))
		}
	}
	return strings.Join(parts, ", ")
}

// Exec runs argv in a container of a pod (as `kubectl exec` does) and
// returns its standard output, standard error and exit code.
func (c *Cluster) Exec(ctx context.Context, namespace, pod, container string, argv ...string) (stdout, stderr string, code int, err error) {
	return c.ExecStdin(ctx, namespace, pod, container, nil, argv...)
}

// ExecStdin is Exec with standard input.
func (c *Cluster) ExecStdin(ctx context.Context, namespace, pod, container string, stdin io.Reader, argv ...string) (stdout, stderr string, code int, err error) {
	h, err := c.Pod(ctx, namespace, pod)
	if err != nil {
		return "", "", -1, err
	}
	return h.Exec(ctx, container, stdin, argv...)
}

// AllLeftovers lists what beds whose owner is gone left on the host, and
// network namespaces of beds no record describes. Running beds (of other
// test runs, say) are not leftovers.
func AllLeftovers(ctx context.Context) []string {
	recs, _ := readRecords()
	var out []string
	known := map[string]bool{}
	for _, r := range recs {
		known[r.NetnsPrefix] = true
		if !alive(r.PID) {
			out = append(out, r.leftovers(ctx)...)
		}
	}
	names, _ := netns.List("hb")
	for _, n := range names {
		if len(n) >= 9 && !known[n[:9]] {
			out = append(out, "netns "+n)
		}
	}
	return out
}

// LeftoversOf lists what the bed with the given ID left on the host.
func LeftoversOf(ctx context.Context, id string) []string {
	recs, _ := readRecords()
	for _, r := range recs {
		if r.ID == id {
			return r.leftovers(ctx)
		}
	}
	// Without a record only its namespaces can be found.
	names, _ := netns.List("hb" + id + "-")
	var out []string
	for _, n := range names {
		out = append(out, "netns "+n)
	}
	return out
}
