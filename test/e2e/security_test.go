package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/specs"
)

// TestRestrictedNamespaceAcceptsEveryPod: in a namespace that enforces the
// Pod Security Standards' restricted profile, a RedisFailover with its
// sentinels and proxies becomes Ready, and every container runs as the
// non-root pod user, cannot write its root filesystem, and has no
// service-account token.
func TestRestrictedNamespaceAcceptsEveryPod(t *testing.T) {
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "restricted-", Labels: map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted",
		"pod-security.kubernetes.io/warn":    "restricted",
	}}}
	if err := kc.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			dumpPods(t, ns.Name)
		}
	})
	// The API server enforces the profile: a privileged pod is refused.
	bad := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "root"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: redisImage}}}}
	if err := kc.Create(ctx, bad); err == nil || !strings.Contains(err.Error(), "restricted") {
		t.Fatalf("a pod without a security context in a restricted namespace: %v, want refused by PodSecurity", err)
	}

	rf := &haredisv1.RedisFailover{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "app"}}
	if err := kc.Create(ctx, rf); err != nil {
		t.Fatal(err)
	}
	waitRFReady(t, ns.Name, "app", 5*time.Minute)

	var pods corev1.PodList
	if err := kc.List(ctx, &pods, client.InNamespace(ns.Name)); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, p := range pods.Items {
		kinds[p.Labels[specs.LabelComponent]]++
		if p.Spec.AutomountServiceAccountToken == nil || *p.Spec.AutomountServiceAccountToken {
			t.Errorf("pod %s mounts a service-account token", p.Name)
		}
		for _, c := range p.Spec.Containers {
			h, err := env.Bed.Pod(ctx, ns.Name, p.Name)
			if err != nil {
				t.Fatal(err)
			}
			pid, err := h.PID(c.Name)
			if err != nil {
				t.Fatal(err)
			}
			status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
			if err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf("%d", specs.PodUser)
			for _, field := range []string{"Uid:", "Gid:"} {
				for _, line := range strings.Split(string(status), "\n") {
					if f := strings.Fields(line); len(f) == 5 && f[0] == field && (f[1] != want || f[2] != want) {
						t.Errorf("%s/%s runs with %s", p.Name, c.Name, line)
					}
				}
			}
			// The root filesystem is not writable, and no token is there.
			out, _, code, err := h.Exec(ctx, c.Name, nil, "sh", "-c",
				"touch /haredis-probe 2>/dev/null && echo wrote; test -e /var/run/secrets/kubernetes.io/serviceaccount/token && echo token; true")
			if err != nil || code != 0 || out != "" {
				t.Errorf("%s/%s: %q, code %d, %v; want neither a write to / nor a token", p.Name, c.Name, out, code, err)
			}
		}
	}
	if kinds[specs.ComponentRedis] != 3 || kinds[specs.ComponentSentinel] != 3 || kinds[specs.ComponentProxy] != 2 {
		t.Errorf("pods by component %v, want 3 instances, 3 sentinels and 2 proxies", kinds)
	}
}
