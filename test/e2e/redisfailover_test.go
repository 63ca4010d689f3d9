package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/haredis/haredis/internal/engine"
	"github.com/haredis/haredis/internal/redistest"

	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/specs"
)

// TestRedisFailoverLifecycle walks the life of one RedisFailover: create
// and connect, SIGKILL of the primary's redis-server, a deleted pod comes
// back with its volume and leaves no stale address in Sentinel (safety rule
// 4), an invalid parameter, deletion keeps the volumes.
func TestRedisFailoverLifecycle(t *testing.T) { forEachEngine(t, testLifecycle) }

func testLifecycle(t *testing.T, image string) {
	ns, rf, pw := newReadyRF(t, "life", withImage(image))
	ctx := context.Background()

	// One primary, two replicas, three sentinels; both kinds of client work.
	roles := map[haredisv1.Role]int{}
	for _, is := range rf.Status.Instances {
		roles[is.Role]++
	}
	if roles[haredisv1.RolePrimary] != 1 || roles[haredisv1.RoleReplica] != 2 || rf.Status.ReadyInstances != 3 {
		t.Fatalf("instances %+v, want one primary and two ready replicas", rf.Status.Instances)
	}
	// The servers are the image's engine, as they report it themselves.
	want, _ := engine.FromImage(image)
	for _, is := range rf.Status.Instances {
		if !strings.HasPrefix(is.Server, string(want.Engine)+" ") {
			t.Errorf("instance %s reports server %q, want %s from image %s", is.Name, is.Server, want.Engine, image)
		}
	}
	var sentinels corev1.PodList
	if err := kc.List(ctx, &sentinels, client.InNamespace(ns), client.MatchingLabels(specs.Selector(rf, specs.ComponentSentinel))); err != nil || len(sentinels.Items) != 3 {
		t.Fatalf("sentinel pods: %d (%v)", len(sentinels.Items), err)
	}
	fc := redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName: rf.Status.MasterName, SentinelAddrs: []string{rf.Status.Endpoints.Sentinel},
		Password: pw, SentinelPassword: pw, Dialer: dial,
		DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second,
	})
	defer fc.Close()
	if err := fc.Set(ctx, "via-sentinel", "1", 0).Err(); err != nil {
		t.Fatalf("Sentinel-aware client cannot write: %v", err)
	}
	primarySvc := plainClient(rf.Status.Endpoints.Primary, pw)
	defer primarySvc.Close()
	redistest.WaitFor(t, 30*time.Second, "a write through "+rf.Status.Endpoints.Primary, func(ctx context.Context) error {
		if err := primarySvc.Set(ctx, "via-service", "1", 0).Err(); err != nil {
			return err
		}
		v, err := primarySvc.Get(ctx, "via-sentinel").Result()
		if err != nil || v != "1" {
			return fmt.Errorf("read %q: %v", v, err)
		}
		return nil
	})

	// SIGKILL of the primary's redis-server.
	oldName := rf.Status.CurrentPrimary
	oldPod, err := getPod(ctx, ns, oldName)
	if err != nil {
		t.Fatal(err)
	}
	st, err := instanceStatus(ctx, oldPod)
	if err != nil || st.RedisPID == 0 {
		t.Fatalf("cannot read the primary's redis-server pid: %v", err)
	}
	// Write to the old primary directly from the moment it could answer
	// until it is a replica: it must never accept a write as a primary.
	direct := plainClient(podAddr(oldPod), pw)
	defer direct.Close()
	var accepted atomic.Int64
	stopWriting := make(chan struct{})
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		deadline := time.Now().Add(2 * time.Minute)
		for i := 0; time.Now().Before(deadline); i++ {
			select {
			case <-stopWriting:
				return
			default:
			}
			if direct.Set(ctx, fmt.Sprintf("direct-%d", i), "x", 0).Err() == nil {
				accepted.Add(1)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	killed := time.Now()
	if err := syscall.Kill(st.RedisPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var newName string
	redistest.WaitFor(t, 90*time.Second, "the failover in status and labels", func(ctx context.Context) error {
		rf, err := getRF(ctx, ns, "app")
		if err != nil {
			return err
		}
		if rf.Status.CurrentPrimary == oldName || rf.Status.FailoverCount < 1 {
			return fmt.Errorf("currentPrimary %s failovers %d", rf.Status.CurrentPrimary, rf.Status.FailoverCount)
		}
		newName = rf.Status.CurrentPrimary
		var pods corev1.PodList
		if err := kc.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{haredisv1.LabelRole: "primary"}); err != nil {
			return err
		}
		if len(pods.Items) != 1 || pods.Items[0].Name != newName {
			return fmt.Errorf("%d pods labelled primary", len(pods.Items))
		}
		return nil
	})
	t.Logf("status and labels named %s %.1fs after the SIGKILL", newName, time.Since(killed).Seconds())
	redistest.WaitFor(t, 60*time.Second, "writes through Sentinel and "+rf.Status.Endpoints.Primary, func(ctx context.Context) error {
		if err := fc.Set(ctx, "after-failover", "1", 0).Err(); err != nil {
			return err
		}
		return primarySvc.Set(ctx, "after-failover-svc", "1", 0).Err()
	})
	redistest.WaitFor(t, 120*time.Second, "the old primary back as a ready replica", func(ctx context.Context) error {
		p, err := getPod(ctx, ns, oldName)
		if err != nil {
			return err
		}
		s, err := instanceStatus(ctx, p)
		if err != nil {
			return err
		}
		if s.Role != "replica" || !s.Ready {
			return fmt.Errorf("role %s ready %v phase %s", s.Role, s.Ready, s.Phase)
		}
		return nil
	})
	close(stopWriting)
	<-writerDone
	if n := accepted.Load(); n > 0 {
		t.Errorf("the killed primary accepted %d writes after its restart", n)
	}
	if err := eventNamed(ctx, ns, haredisv1.EventFailover, oldName, newName); err != nil {
		t.Error(err)
	}
	if rf, err := getRF(ctx, ns, "app"); err == nil && rf.Status.FailoverCount != 1 {
		t.Errorf("failoverCount %d after one SIGKILL, want 1 (current primary %s)", rf.Status.FailoverCount, rf.Status.CurrentPrimary)
	}
	if v, err := fc.Get(ctx, "via-sentinel").Result(); err != nil || v != "1" {
		t.Errorf("a write acknowledged before the failover is gone: %q %v", v, err)
	}

	// A deleted replica pod comes back with its own PVC and its data.
	victim := oldName
	pvcBefore := &corev1.PersistentVolumeClaim{}
	if err := kc.Get(ctx, client.ObjectKey{Namespace: ns, Name: victim}, pvcBefore); err != nil {
		t.Fatal(err)
	}
	podBefore, _ := getPod(ctx, ns, victim)
	if err := kc.Delete(ctx, podBefore); err != nil {
		t.Fatal(err)
	}
	redistest.WaitFor(t, 3*time.Minute, victim+" back, ready, with its data", func(ctx context.Context) error {
		p, err := getPod(ctx, ns, victim)
		if err != nil {
			return err
		}
		if p.UID == podBefore.UID {
			return errors.New("still the old pod")
		}
		s, err := instanceStatus(ctx, p)
		if err != nil {
			return err
		}
		if !s.Ready || s.Keys < 2 {
			return fmt.Errorf("ready %v keys %d", s.Ready, s.Keys)
		}
		return nil
	})
	pvcAfter := &corev1.PersistentVolumeClaim{}
	if err := kc.Get(ctx, client.ObjectKey{Namespace: ns, Name: victim}, pvcAfter); err != nil || pvcAfter.UID != pvcBefore.UID {
		t.Errorf("PVC %s was replaced (err %v): the pod must come back on its own volume", victim, err)
	}

	// Safety rule 4: the sentinels know every instance by its stable name,
	// never by a pod IP, so the recreated pod's new IP leaves nothing stale:
	// exactly two replicas, none down, every address a cluster DNS name.
	if p, err := getPod(ctx, ns, victim); err == nil {
		t.Logf("%s: pod IP %s before the deletion, %s after", victim, podBefore.Status.PodIP, p.Status.PodIP)
	}
	redistest.WaitFor(t, 60*time.Second, "sentinels know every instance by name, none stale or down", func(ctx context.Context) error {
		for _, sp := range sentinels.Items {
			p, err := getPod(ctx, ns, sp.Name)
			if err != nil {
				return err
			}
			sc := redis.NewSentinelClient(&redis.Options{Addr: net.JoinHostPort(p.Status.PodIP, "26379"), Password: pw, Dialer: dial})
			replicas, err := sc.Replicas(ctx, rf.Status.MasterName).Result()
			master, merr := sc.GetMasterAddrByName(ctx, rf.Status.MasterName).Result()
			sc.Close()
			if err != nil || merr != nil || len(master) != 2 {
				return fmt.Errorf("sentinel %s: %v %v %v", sp.Name, err, merr, master)
			}
			if len(replicas) != 2 {
				return fmt.Errorf("sentinel %s knows %d replicas, want 2: %v", sp.Name, len(replicas), replicas)
			}
			addrs := []string{master[0]}
			for _, r := range replicas {
				addrs = append(addrs, r["ip"])
				if strings.Contains(r["flags"], "down") || strings.Contains(r["flags"], "disconnected") {
					return fmt.Errorf("sentinel %s sees replica %s as %s", sp.Name, r["name"], r["flags"])
				}
			}
			for _, a := range addrs {
				if net.ParseIP(a) != nil || !strings.HasSuffix(a, ".svc.cluster.local") {
					return fmt.Errorf("sentinel %s keeps the address %q, not a stable name", sp.Name, a)
				}
			}
		}
		return nil
	})

	// Redis refuses a value: ConfigInvalid with its message, nothing restarts.
	newPod, _ := getPod(ctx, ns, newName)
	before, err := instanceStatus(ctx, newPod)
	if err != nil {
		t.Fatal(err)
	}
	redistest.WaitFor(t, 10*time.Second, "spec update", func(ctx context.Context) error {
		rf, err := getRF(ctx, ns, "app")
		if err != nil {
			return err
		}
		rf.Spec.Redis.Config = map[string]haredisv1.ConfigValue{"maxmemory-policy": "bogus"}
		return kc.Update(ctx, rf)
	})
	redistest.WaitFor(t, 60*time.Second, "ConfigInvalid with Redis's message", func(ctx context.Context) error {
		rf, err := getRF(ctx, ns, "app")
		if err != nil {
			return err
		}
		c := meta.FindStatusCondition(rf.Status.Conditions, haredisv1.ConditionConfigInvalid)
		if c == nil || c.Status != metav1.ConditionTrue || !strings.Contains(c.Message, "maxmemory-policy") || !strings.Contains(c.Message, "must be one of") {
			return fmt.Errorf("condition %+v", c)
		}
		return nil
	})
	after, err := instanceStatus(ctx, newPod)
	if err != nil || after.RedisPID != before.RedisPID || after.Restarts != before.Restarts {
		t.Errorf("redis-server of %s restarted on a refused config (pid %d -> %d, err %v)", newName, before.RedisPID, after.RedisPID, err)
	}
	if err := onEveryInstance(mustRF(t, ns, "app"), "maxmemory-policy", "noeviction"); err != nil {
		t.Errorf("%v; the previous value must stay", err)
	}

	// Deleting the RedisFailover removes everything but the kept PVCs.
	if err := kc.Delete(ctx, &haredisv1.RedisFailover{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app"}}); err != nil {
		t.Fatal(err)
	}
	redistest.WaitFor(t, 2*time.Minute, "every owned object gone", func(ctx context.Context) error {
		var pods corev1.PodList
		var svcs corev1.ServiceList
		var cms corev1.ConfigMapList
		if err := kc.List(ctx, &pods, client.InNamespace(ns)); err != nil {
			return err
		}
		if err := kc.List(ctx, &svcs, client.InNamespace(ns)); err != nil {
			return err
		}
		if err := kc.List(ctx, &cms, client.InNamespace(ns), client.MatchingLabels{specs.LabelInstance: "app"}); err != nil {
			return err
		}
		if _, err := getRF(ctx, ns, "app"); !apierrors.IsNotFound(err) {
			return fmt.Errorf("RedisFailover still there: %v", err)
		}
		if len(pods.Items)+len(svcs.Items)+len(cms.Items) > 0 {
			return fmt.Errorf("%d pods, %d services, %d configmaps left", len(pods.Items), len(svcs.Items), len(cms.Items))
		}
		return nil
	})
	var pvcs corev1.PersistentVolumeClaimList
	if err := kc.List(ctx, &pvcs, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if len(pvcs.Items) != 3 {
		t.Errorf("%d PVCs kept, want 3 (keepAfterDeletion defaults to true)", len(pvcs.Items))
	}
}

func eventNamed(ctx context.Context, ns, reason string, words ...string) error {
	var evs eventsv1.EventList
	if err := kc.List(ctx, &evs, client.InNamespace(ns)); err != nil {
		return err
	}
	for _, e := range evs.Items {
		if e.Reason != reason {
			continue
		}
		ok := true
		for _, w := range words {
			ok = ok && strings.Contains(e.Note, w)
		}
		if ok {
			return nil
		}
	}
	return fmt.Errorf("no %s event naming %v among %d events", reason, words, len(evs.Items))
}
