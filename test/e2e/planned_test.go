package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/haredis/haredis/internal/quorum"
	"github.com/haredis/haredis/internal/redistest"

	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/specs"
	"github.com/haredis/haredis/internal/writeload"
)

// switchoverWindow bounds how long a Sentinel-aware client may see failed
// commands around one switchover: the fence, the promotion and the moment
// its sentinel tells it about the new primary.
const switchoverWindow = 5 * time.Second

// TestPlannedOperations walks the planned operations on one RedisFailover under a
// steady write load through a Sentinel-aware client: a switchover, a live
// parameter change, a volume growth, a parameter that needs a restart, a
// rolling image and resources update, a scale up, two scale downs (volume
// kept, then deleted) and a change of the number of sentinels. Every
// acknowledged write is checked at the end; operations without a
// switchover must fail no command at all, and those with one only within
// one short window; live changes and growth restart nothing.
func TestPlannedOperations(t *testing.T) {
	ns, rf, pw := newReadyRF(t, "planned", nil)
	ctx := context.Background()
	fc := redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName: rf.Status.MasterName, SentinelAddrs: []string{rf.Status.Endpoints.Sentinel},
		Password: pw, SentinelPassword: pw, Dialer: dial,
		DialTimeout: time.Second, ReadTimeout: 3 * time.Second, WriteTimeout: time.Second,
	})
	defer fc.Close()
	lctx, cancel := context.WithTimeout(ctx, 20*time.Minute)
	defer cancel()
	load := writeload.Start(lctx, fc, writeload.Options{Prefix: "planned", Interval: time.Millisecond})
	if err := load.WaitAcked(lctx, 200); err != nil {
		t.Fatal(err)
	}
	// phase runs one operation as a named step and checks the load around
	// it; the steps build on each other, so the first that fails ends the
	// test.
	phase := func(name string, switchovers int, op func(t *testing.T)) {
		t.Helper()
		if !t.Run(name, func(t *testing.T) { runPhase(t, lctx, load, name, switchovers, op) }) {
			t.FailNow()
		}
	}

	phase("switchover", 1, func(t *testing.T) {
		from := rf.Status.CurrentPrimary
		to := anyReplica(rf)
		patchStatus(t, ns, "app", func(rf *haredisv1.RedisFailover) { rf.Status.TargetPrimary = to })
		rf = waitFor2(t, ns, "app", 2*time.Minute, "the switchover to "+to, func(rf *haredisv1.RedisFailover) error {
			ls := rf.Status.LastSwitchover
			if ls == nil || ls.To != to || ls.Result != haredisv1.SwitchoverSucceeded || rf.Status.CurrentPrimary != to {
				return fmt.Errorf("current %s lastSwitchover %+v", rf.Status.CurrentPrimary, ls)
			}
			return primaryLabelOn(rf, to)
		})
		t.Logf("switchover %s -> %s: writes held %d ms", from, to, rf.Status.LastSwitchover.WritesHeldMilliseconds)
		waitRFReady(t, ns, "app", 2*time.Minute)
	})

	phase("live parameter", 0, func(t *testing.T) {
		before := processes(t, rf)
		patchRF(t, ns, "app", func(rf *haredisv1.RedisFailover) {
			rf.Spec.Redis.Config = map[string]haredisv1.ConfigValue{"notify-keyspace-events": "gxE", "maxmemory-policy": "allkeys-lru"}
		})
		rf = waitFor2(t, ns, "app", 2*time.Minute, "the parameter group in force", func(rf *haredisv1.RedisFailover) error {
			if !conditionTrue(rf, haredisv1.ConditionConfigApplied) {
				return fmt.Errorf("ConfigApplied %+v", meta.FindStatusCondition(rf.Status.Conditions, haredisv1.ConditionConfigApplied))
			}
			return onEveryInstance(rf, "notify-keyspace-events", "gxE")
		})
		if after := processes(t, rf); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Errorf("a live parameter change restarted something:\nbefore %v\nafter  %v", before, after)
		}
	})

	phase("volume growth", 0, func(t *testing.T) {
		before := processes(t, rf)
		patchRF(t, ns, "app", func(rf *haredisv1.RedisFailover) {
			q := resource.MustParse("2Gi")
			rf.Spec.Redis.Storage.Size = &q
		})
		rf = waitFor2(t, ns, "app", 2*time.Minute, "every volume at 2Gi", func(rf *haredisv1.RedisFailover) error {
			if !conditionTrue(rf, haredisv1.ConditionStorageResized) {
				return fmt.Errorf("StorageResized %+v", meta.FindStatusCondition(rf.Status.Conditions, haredisv1.ConditionStorageResized))
			}
			for _, is := range rf.Status.Instances {
				if is.Storage != "2Gi" {
					return fmt.Errorf("%s reports %q", is.Name, is.Storage)
				}
			}
			return nil
		})
		if after := processes(t, rf); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Errorf("growing the volumes restarted something:\nbefore %v\nafter  %v", before, after)
		}
	})

	phase("restart-only parameter", 1, func(t *testing.T) {
		before := processes(t, rf)
		patchRF(t, ns, "app", func(rf *haredisv1.RedisFailover) { rf.Spec.Redis.Config["databases"] = "32" })
		rf = waitFor2(t, ns, "app", 6*time.Minute, "databases 32 on every instance through the rolling path", func(rf *haredisv1.RedisFailover) error {
			if !conditionTrue(rf, haredisv1.ConditionConfigApplied) || !conditionTrue(rf, haredisv1.ConditionReady) || conditionTrue(rf, haredisv1.ConditionProgressing) {
				return fmt.Errorf("phase %s, ConfigApplied %+v", rf.Status.Phase, meta.FindStatusCondition(rf.Status.Conditions, haredisv1.ConditionConfigApplied))
			}
			return onEveryInstance(rf, "databases", "32")
		})
		after := processes(t, rf)
		for n, p := range before {
			if after[n] == p {
				t.Errorf("%s was not restarted for a restart-only parameter (%s)", n, p)
			}
		}
	})

	phase("rolling image and resources update", 1, func(t *testing.T) {
		before := podUIDs(t, ns, rf)
		patchRF(t, ns, "app", func(rf *haredisv1.RedisFailover) {
			rf.Spec.Redis.Image = valkeyImage + ".1"
			rf.Spec.Redis.Resources = corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m")}}
		})
		rf = waitFor2(t, ns, "app", 8*time.Minute, "every pod replaced by the rolling update", func(rf *haredisv1.RedisFailover) error {
			if rf.Status.UpdatedInstances != 3 || !conditionTrue(rf, haredisv1.ConditionReady) || conditionTrue(rf, haredisv1.ConditionProgressing) {
				return fmt.Errorf("phase %s, updated %d, Progressing %+v", rf.Status.Phase, rf.Status.UpdatedInstances, meta.FindStatusCondition(rf.Status.Conditions, haredisv1.ConditionProgressing))
			}
			return nil
		})
		after := podUIDs(t, ns, rf)
		for n, uid := range before {
			if after[n] == uid {
				t.Errorf("pod %s was not replaced", n)
			}
		}
		var pods corev1.PodList
		if err := kc.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{specs.LabelInstance: "app"}); err != nil {
			t.Fatal(err)
		}
		for _, p := range pods.Items {
			c := p.Spec.Containers[0]
			if p.Labels[specs.LabelComponent] == specs.ComponentProxy {
				continue
			}
			if c.Image != valkeyImage+".1" {
				t.Errorf("pod %s runs %s", p.Name, c.Image)
			}
			if p.Labels[specs.LabelComponent] == specs.ComponentRedis && c.Resources.Requests.Cpu().String() != "50m" {
				t.Errorf("pod %s requests %s CPU", p.Name, c.Resources.Requests.Cpu())
			}
		}
	})

	phase("scale up", 0, func(t *testing.T) {
		patchRF(t, ns, "app", func(rf *haredisv1.RedisFailover) { rf.Spec.Redis.Replicas = 4 })
		rf = waitFor2(t, ns, "app", 3*time.Minute, "four ready instances", func(rf *haredisv1.RedisFailover) error {
			if rf.Status.ReadyInstances != 4 || !conditionTrue(rf, haredisv1.ConditionReady) {
				return fmt.Errorf("ready %d, Ready %+v", rf.Status.ReadyInstances, meta.FindStatusCondition(rf.Status.Conditions, haredisv1.ConditionReady))
			}
			return nil
		})
	})

	// Scale down 4 -> 3 keeping the removed replica's volume (the default),
	// then 3 -> 2 deleting it (keepAfterDeletion false): each time the
	// highest-numbered replica goes, the primary stays, and the sentinels
	// forget the removed one.
	scaleDown := func(t *testing.T, to int32, keep bool) {
		primary := rf.Status.CurrentPrimary
		victim := ""
		for _, is := range rf.Status.Instances {
			if is.Name != primary && (victim == "" || serial(is.Name) > serial(victim)) {
				victim = is.Name
			}
		}
		lastSerial := rf.Annotations[haredisv1.AnnotationLastSerial]
		patchRF(t, ns, "app", func(rf *haredisv1.RedisFailover) {
			rf.Spec.Redis.Replicas = to
			rf.Spec.Redis.Storage.KeepAfterDeletion = &keep
		})
		rf = waitFor2(t, ns, "app", 3*time.Minute, fmt.Sprintf("%d instances, %s gone", to, victim), func(rf *haredisv1.RedisFailover) error {
			if len(rf.Status.Instances) != int(to) || rf.Status.ReadyInstances != to || !conditionTrue(rf, haredisv1.ConditionReady) || conditionTrue(rf, haredisv1.ConditionProgressing) {
				return fmt.Errorf("instances %d ready %d, Ready %+v", len(rf.Status.Instances), rf.Status.ReadyInstances, meta.FindStatusCondition(rf.Status.Conditions, haredisv1.ConditionReady))
			}
			if rf.Status.CurrentPrimary != primary {
				return fmt.Errorf("the primary moved from %s to %s", primary, rf.Status.CurrentPrimary)
			}
			if _, err := getPod(context.Background(), ns, victim); err == nil {
				return fmt.Errorf("pod %s still exists", victim)
			}
			return nil
		})
		pvc := &corev1.PersistentVolumeClaim{}
		err := kc.Get(ctx, types.NamespacedName{Namespace: ns, Name: victim}, pvc)
		switch {
		case keep && (err != nil || pvc.Labels[haredisv1.LabelDetached] != "true"):
			t.Errorf("volume %s of a removed replica: labels %v (%v), want kept and detached", victim, pvc.Labels, err)
		case !keep && !apierrors.IsNotFound(err):
			t.Errorf("volume %s of a removed replica with keepAfterDeletion false: %v, want deleted", victim, err)
		}
		redistest.WaitFor(t, time.Minute, "every sentinel forgets "+victim, func(ctx context.Context) error {
			return sentinelsKnowOnly(ctx, rf, pw, int(to)-1)
		})
		// Nothing came back: no pod or volume of the removed replica, and no
		// new instance number used.
		if _, err := getPod(ctx, ns, victim); err == nil {
			t.Errorf("pod %s of the removed replica came back", victim)
		}
		if !keep {
			if err := kc.Get(ctx, types.NamespacedName{Namespace: ns, Name: victim}, pvc); !apierrors.IsNotFound(err) {
				t.Errorf("volume %s of the removed replica came back (%v)", victim, err)
			}
		}
		if got := rf.Annotations[haredisv1.AnnotationLastSerial]; got != lastSerial {
			t.Errorf("last instance serial %s, want %s unchanged", got, lastSerial)
		}
	}
	phase("scale down keeping the volume", 0, func(t *testing.T) { scaleDown(t, 3, true) })
	phase("scale down deleting the volume", 0, func(t *testing.T) { scaleDown(t, 2, false) })

	// More sentinels, then fewer: every sentinel ends with the quorum of
	// the new count, knows exactly the others, and names the primary. The
	// quorum changes live: the first three sentinels are never restarted.
	sentinelUIDs := func() map[string]types.UID {
		uids := map[string]types.UID{}
		for i := 1; i <= 3; i++ {
			n := fmt.Sprintf("app-sentinel-%d", i)
			if p, err := getPod(ctx, ns, n); err == nil {
				uids[n] = p.UID
			}
		}
		return uids
	}
	before := sentinelUIDs()
	defer func() {
		if after := sentinelUIDs(); !t.Failed() && !maps.Equal(before, after) {
			t.Errorf("sentinel pods were replaced for a new sentinel count: before %v, after %v", before, after)
		}
	}()
	for _, n := range []int32{5, 3} {
		phase(fmt.Sprintf("%d sentinels", n), 0, func(t *testing.T) {
			patchRF(t, ns, "app", func(rf *haredisv1.RedisFailover) { rf.Spec.Sentinel.Replicas = n })
			redistest.WaitFor(t, 4*time.Minute, fmt.Sprintf("%d sentinels with quorum %d that know each other", n, quorum.Majority(int(n))), func(ctx context.Context) error {
				return sentinelsAgree(ctx, rf, pw, int(n))
			})
		})
	}

	rep := load.Stop()
	t.Log(rep.Summary())
	pc := plainClient(rf.Status.Endpoints.Primary, pw)
	defer pc.Close()
	lost, err := rep.Lost(ctx, pc)
	if err != nil {
		t.Fatal(err)
	}
	if len(lost) > 0 {
		t.Fatalf("%d acknowledged writes lost, first %s", len(lost), lost[0])
	}
}

func anyReplica(rf *haredisv1.RedisFailover) string {
	for _, is := range rf.Status.Instances {
		if is.Name != rf.Status.CurrentPrimary && is.Ready {
			return is.Name
		}
	}
	return ""
}

func serial(name string) int {
	var n int
	_, _ = fmt.Sscanf(name[strings.LastIndex(name, "-")+1:], "%d", &n)
	return n
}

func conditionTrue(rf *haredisv1.RedisFailover, t string) bool {
	return meta.IsStatusConditionTrue(rf.Status.Conditions, t) && rf.Status.ObservedGeneration == rf.Generation
}

// waitFor2 waits until cond holds for the RedisFailover and returns it.
func waitFor2(t *testing.T, ns, name string, timeout time.Duration, what string, cond func(*haredisv1.RedisFailover) error) *haredisv1.RedisFailover {
	t.Helper()
	var got *haredisv1.RedisFailover
	redistest.WaitFor(t, timeout, what, func(ctx context.Context) error {
		rf, err := getRF(ctx, ns, name)
		if err != nil {
			return err
		}
		if err := cond(rf); err != nil {
			return err
		}
		got = rf
		return nil
	})
	return got
}

// patchRF updates the spec of a RedisFailover, patchStatus its status (as
// `kubectl haredis promote` does), retrying on conflicts.
func patchRF(t *testing.T, ns, name string, mutate func(*haredisv1.RedisFailover)) {
	t.Helper()
	updateRF(t, ns, name, "an update of "+name, mutate, func(ctx context.Context, rf *haredisv1.RedisFailover) error { return kc.Update(ctx, rf) })
}

func patchStatus(t *testing.T, ns, name string, mutate func(*haredisv1.RedisFailover)) {
	t.Helper()
	updateRF(t, ns, name, "a status update of "+name, mutate, func(ctx context.Context, rf *haredisv1.RedisFailover) error { return kc.Status().Update(ctx, rf) })
}

func updateRF(t *testing.T, ns, name, what string, mutate func(*haredisv1.RedisFailover), write func(context.Context, *haredisv1.RedisFailover) error) {
	t.Helper()
	redistest.WaitFor(t, 30*time.Second, what, func(ctx context.Context) error {
		rf, err := getRF(ctx, ns, name)
		if err != nil {
			return err
		}
		mutate(rf)
		return write(ctx, rf)
	})
}

func primaryLabelOn(rf *haredisv1.RedisFailover, name string) error {
	p, err := getPod(context.Background(), rf.Namespace, name)
	if err != nil {
		return err
	}
	if p.Labels[haredisv1.LabelRole] != "primary" {
		return fmt.Errorf("pod %s has role label %q", name, p.Labels[haredisv1.LabelRole])
	}
	return nil
}

// processes identifies the redis-server of every instance: pod UID,
// container restarts and PID. Equal maps mean nothing restarted.
func processes(t *testing.T, rf *haredisv1.RedisFailover) map[string]string {
	t.Helper()
	out := map[string]string{}
	redistest.WaitFor(t, 30*time.Second, "the redis-server processes", func(ctx context.Context) error {
		for _, is := range rf.Status.Instances {
			p, err := getPod(ctx, rf.Namespace, is.Name)
			if err != nil {
				return err
			}
			s, err := instanceStatus(ctx, p)
			if err != nil {
				return err
			}
			restarts := int32(0)
			for _, cs := range p.Status.ContainerStatuses {
				restarts += cs.RestartCount
			}
			out[is.Name] = fmt.Sprintf("uid=%s restarts=%d+%d pid=%d", p.UID, restarts, s.Restarts, s.RedisPID)
		}
		return nil
	})
	return out
}

func podUIDs(t *testing.T, ns string, rf *haredisv1.RedisFailover) map[string]types.UID {
	t.Helper()
	var pods corev1.PodList
	if err := kc.List(context.Background(), &pods, client.InNamespace(ns), client.MatchingLabels{specs.LabelInstance: rf.Name}); err != nil {
		t.Fatal(err)
	}
	out := map[string]types.UID{}
	for _, p := range pods.Items {
		if p.Labels[specs.LabelComponent] != specs.ComponentProxy {
			out[p.Name] = p.UID
		}
	}
	return out
}

// onEveryInstance checks a parameter with CONFIG GET on every instance.
func onEveryInstance(rf *haredisv1.RedisFailover, param, want string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, is := range rf.Status.Instances {
		p, err := getPod(ctx, rf.Namespace, is.Name)
		if err != nil {
			return err
		}
		c, err := adminClient(ctx, rf.Namespace, rf.Name, podAddr(p))
		if err != nil {
			return err
		}
		v, err := c.ConfigGet(ctx, param).Result()
		c.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", is.Name, err)
		}
		if v[param] != want {
			return fmt.Errorf("%s has %s %q, want %q", is.Name, param, v[param], want)
		}
	}
	return nil
}

// sentinelsKnowOnly checks that every sentinel knows exactly replicas
// replicas, all of them current instances.
func sentinelsKnowOnly(ctx context.Context, rf *haredisv1.RedisFailover, pw string, replicas int) error {
	var pods corev1.PodList
	if err := kc.List(ctx, &pods, client.InNamespace(rf.Namespace), client.MatchingLabels(specs.Selector(rf, specs.ComponentSentinel))); err != nil {
		return err
	}
	members := map[string]bool{}
	for _, is := range rf.Status.Instances {
		members[is.Name] = true
	}
	for _, p := range pods.Items {
		sc := redis.NewSentinelClient(&redis.Options{Addr: p.Status.PodIP + ":26379", Password: pw, Dialer: dial, MaxRetries: -1})
		reps, err := sc.Replicas(ctx, rf.Status.MasterName).Result()
		sc.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", p.Name, err)
		}
		if len(reps) != replicas {
			return fmt.Errorf("%s knows %d replicas, want %d", p.Name, len(reps), replicas)
		}
		for _, r := range reps {
			if n, _, _ := strings.Cut(r["ip"], "."); !members[n] {
				return fmt.Errorf("%s knows %s, which is no instance", p.Name, r["ip"])
			}
		}
	}
	return nil
}

// sentinelsAgree checks that exactly n sentinel pods run, each ready, with
// the quorum of n (a majority), knowing the n-1 others and naming the
// current primary.
func sentinelsAgree(ctx context.Context, rf *haredisv1.RedisFailover, pw string, n int) error {
	var pods corev1.PodList
	if err := kc.List(ctx, &pods, client.InNamespace(rf.Namespace), client.MatchingLabels(specs.Selector(rf, specs.ComponentSentinel))); err != nil {
		return err
	}
	if len(pods.Items) != n {
		return fmt.Errorf("%d sentinel pods, want %d", len(pods.Items), n)
	}
	cur, err := getRF(ctx, rf.Namespace, rf.Name)
	if err != nil {
		return err
	}
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil || !podReady(&p) {
			st, _ := json.Marshal(p.Status.ContainerStatuses)
			return fmt.Errorf("sentinel pod %s not ready (deleting %v, conditions %v, containers %s)", p.Name, p.DeletionTimestamp != nil, p.Status.Conditions, st)
		}
		sc := redis.NewSentinelClient(&redis.Options{Addr: p.Status.PodIP + ":26379", Password: pw, Dialer: dial, MaxRetries: -1})
		m, err := sc.Master(ctx, rf.Status.MasterName).Result()
		sc.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", p.Name, err)
		}
		if m["quorum"] != fmt.Sprint(quorum.Majority(n)) || m["num-other-sentinels"] != fmt.Sprint(n-1) {
			return fmt.Errorf("%s: quorum %s, %s other sentinels; want %d and %d", p.Name, m["quorum"], m["num-other-sentinels"], quorum.Majority(n), n-1)
		}
		if host, _, _ := strings.Cut(m["ip"], "."); host != cur.Status.CurrentPrimary {
			return fmt.Errorf("%s names %s, want %s", p.Name, m["ip"], cur.Status.CurrentPrimary)
		}
	}
	return nil
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// runPhase runs op and checks the write load around it: writes go on
// after it, no command fails unless it includes switchovers, and failures
// fit in one switchover window.
func runPhase(t *testing.T, lctx context.Context, load *writeload.Load, name string, switchovers int, op func(t *testing.T)) {
	t.Helper()
	start := time.Now()
	op(t)
	if err := load.WaitAcked(lctx, 100); err != nil {
		t.Fatalf("%s: writes did not go on: %v", name, err)
	}
	fails := load.FailuresSince(start)
	t.Logf("%s: %s, %d failed commands, longest write pause %s", name, time.Since(start).Round(time.Second), len(fails), load.LongestGapSince(start).Round(time.Millisecond))
	if switchovers == 0 && len(fails) > 0 {
		t.Errorf("%s: %d commands failed without a switchover, first %q", name, len(fails), fails[0].Err)
	}
	if len(fails) > 0 && fails[len(fails)-1].At.Sub(fails[0].At) > switchoverWindow {
		t.Errorf("%s: commands failed over %s, longer than one switchover window (%s): first %q at %s, last %q at %s", name,
			fails[len(fails)-1].At.Sub(fails[0].At), switchoverWindow, fails[0].Err, fails[0].At.Format(time.StampMilli),
			fails[len(fails)-1].Err, fails[len(fails)-1].At.Format(time.StampMilli))
	}
}
