package e2e

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/redistest"
	"github.com/haredis/haredis/internal/writeload"
)

// startSourceRedis runs a plain redis-server pod, the Redis an
// application uses before it moves to haredis, and returns its pod.
func startSourceRedis(t *testing.T, ns, pw string) *corev1.Pod {
	t.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "source", Namespace: ns},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "redis", Image: "redis:7.0",
			Command: []string{"redis-server", "--port", "6379", "--requirepass", pw, "--save", "", "--appendonly", "no"},
		}}},
	}
	ctx := context.Background()
	if err := kc.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := env.Bed.WaitPodReady(ctx, ns, "source", 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := kc.Get(ctx, client.ObjectKeyFromObject(p), p); err != nil {
		t.Fatal(err)
	}
	return p
}

// passwordSecret creates Secret name of ns holding pw under "password".
func passwordSecret(t *testing.T, ns, name, pw string) {
	t.Helper()
	if err := kc.Create(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		StringData: map[string]string{"password": pw}}); err != nil {
		t.Fatal(err)
	}
}

// createImportRF creates RedisFailover name importing live from host:6379,
// with the password of Secret secret, after mutate.
func createImportRF(t *testing.T, ns, name, secret, host string, mutate func(*haredisv1.RedisFailover)) *haredisv1.RedisFailover {
	t.Helper()
	rf := &haredisv1.RedisFailover{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	rf.Spec.Auth.PasswordSecret = &haredisv1.SecretKeySelector{Name: secret, Key: "password"}
	rf.Spec.Bootstrap = &haredisv1.BootstrapSpec{FromRedis: &haredisv1.RedisSource{Host: host, Port: 6379}}
	if mutate != nil {
		mutate(rf)
	}
	if err := kc.Create(context.Background(), rf); err != nil {
		t.Fatal(err)
	}
	return rf
}

// TestLiveImportThenCutover: a RedisFailover imports a running Redis
// holding every type while a client writes through REDIS_URL (the proxy,
// which sends the commands to the source); the cutover makes haredis's
// primary the writer without a failed or lost write, REDIS_URL stays the
// same, and the sentinels and replicas come up only after it.
func TestLiveImportThenCutover(t *testing.T) {
	ns := newNamespace(t, "import")
	ctx := context.Background()
	const pw = "source-password-1"
	passwordSecret(t, ns, "source-auth", pw)
	src := startSourceRedis(t, ns, pw)
	sc := plainClient(podAddr(src), pw)
	defer sc.Close()
	data := redistest.Dataset{Prefix: "before", N: 300}
	if err := data.Write(ctx, sc); err != nil {
		t.Fatal(err)
	}

	// Three instances: min-replicas-to-write defaults to 1, which must not
	// refuse writes while the instances created at the cutover copy.
	rf := createImportRF(t, ns, "app", "source-auth", src.Status.PodIP, func(rf *haredisv1.RedisFailover) { rf.Spec.Redis.Replicas = 3 })
	redistest.WaitFor(t, 3*time.Minute, "the import is in sync", func(ctx context.Context) error {
		var err error
		if rf, err = getRF(ctx, ns, "app"); err != nil {
			return err
		}
		if li := rf.Status.LiveImport; rf.Status.Phase != haredisv1.PhaseImporting || li == nil || !li.LinkUp {
			return fmt.Errorf("phase %s, liveImport %+v", rf.Status.Phase, li)
		}
		return nil
	})
	ready := meta.FindStatusCondition(rf.Status.Conditions, haredisv1.ConditionReady)
	if ready == nil || ready.Reason != haredisv1.ReasonImporting || !strings.Contains(ready.Message, haredisv1.AnnotationCutover) {
		t.Fatalf("Ready during the import: %+v", ready)
	}
	// Nothing but the initial primary runs: no sentinel may count it down.
	var pods corev1.PodList
	if err := kc.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{"app.kubernetes.io/instance": "app"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.Name != "app-1" && !strings.HasPrefix(p.Name, "app-proxy-") {
			t.Fatalf("pod %s runs during the import", p.Name)
		}
	}

	urlBefore := rf.Status.Endpoints.RedisURL
	c := redis.NewClient(&redis.Options{Addr: strings.TrimPrefix(urlBefore, "redis://"), Password: pw, Dialer: dial,
		DialTimeout: time.Second, ReadTimeout: 5 * time.Second, WriteTimeout: time.Second, MaxRetries: -1})
	defer c.Close()
	redistest.WaitFor(t, time.Minute, "a write through REDIS_URL reaches the source", func(ctx context.Context) error {
		if err := c.Set(ctx, "through-proxy", "1", 0).Err(); err != nil {
			return err
		}
		return sc.Get(ctx, "through-proxy").Err()
	})
	load := writeload.Start(ctx, c, writeload.Options{Prefix: "import", Interval: time.Millisecond, MaxDuration: 5 * time.Minute})
	if err := load.WaitAcked(ctx, 300); err != nil {
		t.Fatal(err)
	}
	// Asked for as a user asks: kubectl haredis cutover, which waits for it.
	bin := buildPlugin(t)
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	printed, err := exec.CommandContext(cctx, bin, "--kubeconfig="+env.Bed.KubeconfigPath, "-n", ns, "cutover", "app", "--wait", "1m").Output()
	if err != nil {
		t.Fatalf("kubectl haredis cutover: %v\n%s%s", err, printed, stderrOf(err))
	}
	if !strings.Contains(string(printed), "app-1 is the writer: it took over from "+src.Status.PodIP+":6379") {
		t.Errorf("kubectl haredis cutover printed:\n%s", printed)
	}
	if rf, err = getRF(ctx, ns, "app"); err != nil {
		t.Fatal(err)
	}
	if b := meta.FindStatusCondition(rf.Status.Conditions, haredisv1.ConditionBootstrapped); b == nil || b.Status != metav1.ConditionTrue || b.Reason != haredisv1.ReasonBootstrapImported {
		t.Fatalf("Bootstrapped after the cutover: %+v", b)
	}
	if _, ok := rf.Annotations[haredisv1.AnnotationCutover]; ok {
		t.Errorf("the annotation %s is still there after the cutover", haredisv1.AnnotationCutover)
	}
	if err := load.WaitAcked(ctx, 300); err != nil {
		t.Fatal(err)
	}
	rep := load.Stop()
	t.Logf("load through REDIS_URL: %s", rep.Summary())
	rf = waitRFReady(t, ns, "app", 4*time.Minute)
	if rf.Status.Endpoints.RedisURL != urlBefore {
		t.Errorf("REDIS_URL changed: %s, then %s", urlBefore, rf.Status.Endpoints.RedisURL)
	}
	if rf.Status.CurrentPrimary != "app-1" || rf.Status.FailoverCount != 0 {
		t.Errorf("primary %s after %d failovers, want app-1 after none", rf.Status.CurrentPrimary, rf.Status.FailoverCount)
	}
	p1, err := getPod(ctx, ns, "app-1")
	if err != nil {
		t.Fatal(err)
	}
	// Once the replicas copied, the spec's durability is in force again.
	ic, err := env.InstanceClient(ctx, ns, "app", p1.Status.PodIP)
	if err != nil {
		t.Fatal(err)
	}
	redistest.WaitFor(t, time.Minute, "min-replicas-to-write 1 in force on app-1", func(ctx context.Context) error {
		rf, err := getRF(ctx, ns, "app")
		if err != nil {
			return err
		}
		if li := rf.Status.LiveImport; li == nil || li.ReplicasInSyncTime == nil {
			return fmt.Errorf("liveImport %+v", li)
		}
		s, err := ic.Status(ctx)
		if err != nil {
			return err
		}
		if s.DurabilityLive == nil || s.DurabilityLive.MinReplicasToWrite != 1 {
			return fmt.Errorf("durability in force %+v", s.DurabilityLive)
		}
		return nil
	})
	pc := plainClient(podAddr(p1), pw)
	defer pc.Close()
	lost, err := rep.Lost(ctx, pc)
	if err != nil {
		t.Fatal(err)
	}
	if len(lost) > 0 {
		t.Fatalf("%d acknowledged writes are not on haredis's primary, first %s", len(lost), lost[0])
	}
	if err := data.Compare(ctx, sc, pc); err != nil {
		t.Fatalf("the data set written before the import: %v", err)
	}
	if f := rep.Failures; len(f) > 0 {
		t.Errorf("%d writes through REDIS_URL failed across the cutover, first %+v", len(f), f[0])
	}
	// The replica created after the cutover holds the same data set.
	p2, err := getPod(ctx, ns, "app-2")
	if err != nil {
		t.Fatal(err)
	}
	rc := plainClient(podAddr(p2), pw)
	defer rc.Close()
	redistest.WaitFor(t, time.Minute, "app-2 holds the primary's data set", func(ctx context.Context) error {
		if err := data.Compare(ctx, pc, rc); err != nil {
			return err
		}
		if lost, err := rep.Lost(ctx, rc); err != nil || len(lost) > 0 {
			return fmt.Errorf("%d acknowledged writes missing, %v", len(lost), err)
		}
		a, err1 := pc.DBSize(ctx).Result()
		b, err2 := rc.DBSize(ctx).Result()
		if err := errors.Join(err1, err2); err != nil {
			return err
		}
		if a != b {
			return fmt.Errorf("%d keys on the primary, %d on app-2", a, b)
		}
		return nil
	})
	// The source takes no more writes from haredis's clients.
	if err := c.Set(ctx, "after-cutover", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := sc.Get(ctx, "after-cutover").Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("a write through REDIS_URL after the cutover reached the source: %v", err)
	}
	// Once every proxy is on the new primary, the source's writes are no
	// longer held (long before the hold's own one-minute end).
	redistest.WaitFor(t, 20*time.Second, "the source takes writes again", func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		return sc.Set(ctx, "released", "1", 0).Err()
	})
}

// TestLiveImportBadInputSaysWhy: a source that refuses the password, and
// one that does not answer, are said in the status; nothing else starts
// and a cutover asked for waits.
func TestLiveImportBadInputSaysWhy(t *testing.T) {
	ns := newNamespace(t, "import-bad")
	ctx := context.Background()
	passwordSecret(t, ns, "wrong", "not-the-source-password")
	src := startSourceRedis(t, ns, "the-source-password")
	rf := createImportRF(t, ns, "app", "wrong", src.Status.PodIP, func(rf *haredisv1.RedisFailover) {
		rf.Annotations = map[string]string{haredisv1.AnnotationCutover: "now"}
	})
	redistest.WaitFor(t, 3*time.Minute, "the status says the source refuses the password", func(ctx context.Context) error {
		var err error
		if rf, err = getRF(ctx, ns, "app"); err != nil {
			return err
		}
		li := rf.Status.LiveImport
		ready := meta.FindStatusCondition(rf.Status.Conditions, haredisv1.ConditionReady)
		if li == nil || li.LinkUp || !strings.Contains(li.Problem, "WRONGPASS") || ready == nil || !strings.Contains(ready.Message, "WRONGPASS") {
			return fmt.Errorf("liveImport %+v, Ready %+v", li, ready)
		}
		if !strings.Contains(ready.Message, "waits until the import is in sync") {
			return fmt.Errorf("Ready does not say the cutover waits: %+v", ready)
		}
		return nil
	})
	if _, ok := rf.Annotations[haredisv1.AnnotationCutover]; !ok {
		t.Error("the cutover asked for was dropped before the import was in sync")
	}
	var sentinels corev1.PodList
	if err := kc.List(ctx, &sentinels, client.InNamespace(ns), client.MatchingLabels{"app.kubernetes.io/component": "sentinel"}); err != nil {
		t.Fatal(err)
	}
	if len(sentinels.Items) > 0 {
		t.Fatalf("%d sentinel pods run during an import", len(sentinels.Items))
	}

	// A source that does not answer: the same, in its words.
	rf2 := createImportRF(t, ns, "gone", "wrong", "nowhere."+ns+".svc.cluster.local", func(rf *haredisv1.RedisFailover) {
		rf.Spec.Proxy.Enabled = ptr.To(false)
	})
	redistest.WaitFor(t, 3*time.Minute, "the status says the source does not answer", func(ctx context.Context) error {
		var err error
		if rf2, err = getRF(ctx, ns, "gone"); err != nil {
			return err
		}
		li := rf2.Status.LiveImport
		if li == nil || li.LinkUp || !strings.Contains(li.Problem, "cannot ask the source") {
			return fmt.Errorf("liveImport %+v", li)
		}
		return nil
	})
}

// TestLiveImportAutomaticCutoverWithoutProxy: with cutover: Automatic the
// RedisFailover takes over as soon as it is in sync, and without the proxy
// it ends Ready with the source's data on every instance.
func TestLiveImportAutomaticCutoverWithoutProxy(t *testing.T) {
	ns := newNamespace(t, "import-auto")
	ctx := context.Background()
	passwordSecret(t, ns, "source-auth", "pw-auto")
	src := startSourceRedis(t, ns, "pw-auto")
	sc := plainClient(podAddr(src), "pw-auto")
	defer sc.Close()
	data := redistest.Dataset{Prefix: "auto", N: 200}
	if err := data.Write(ctx, sc); err != nil {
		t.Fatal(err)
	}
	createImportRF(t, ns, "app", "source-auth", src.Status.PodIP, func(rf *haredisv1.RedisFailover) {
		rf.Spec.Redis.Replicas = 2
		rf.Spec.Proxy.Enabled = ptr.To(false)
		rf.Spec.Bootstrap.FromRedis.Cutover = haredisv1.CutoverAutomatic
	})
	rf := waitRFReady(t, ns, "app", 4*time.Minute)
	b := meta.FindStatusCondition(rf.Status.Conditions, haredisv1.ConditionBootstrapped)
	if b == nil || b.Reason != haredisv1.ReasonBootstrapImported || rf.Status.LiveImport == nil || rf.Status.LiveImport.CutoverTime == nil {
		t.Fatalf("Bootstrapped %+v, liveImport %+v", b, rf.Status.LiveImport)
	}
	for _, n := range []string{"app-1", "app-2"} {
		p, err := getPod(ctx, ns, n)
		if err != nil {
			t.Fatal(err)
		}
		c := plainClient(podAddr(p), "pw-auto")
		redistest.WaitFor(t, time.Minute, n+" holds the source's data", func(ctx context.Context) error {
			return data.Compare(ctx, sc, c)
		})
		c.Close()
	}
}
