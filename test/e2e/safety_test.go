package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/haredis/haredis/internal/redistest"

	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/specs"
)

// TestEmptyRestartedPrimaryNeverWipesReplicas: with persistence None a
// killed primary comes back empty; it must never be primary again over its
// replicas, which keep every key.
func TestEmptyRestartedPrimaryNeverWipesReplicas(t *testing.T) {
	ns, rf, pw := newReadyRF(t, "empty", func(rf *haredisv1.RedisFailover) { rf.Spec.Redis.Persistence = haredisv1.PersistenceNone })
	ctx := context.Background()
	const keys = 200
	primary := plainClient(rf.Status.Endpoints.Primary, pw)
	defer primary.Close()
	redistest.WaitFor(t, 30*time.Second, "keys written", func(ctx context.Context) error {
		pipe := primary.Pipeline()
		for i := range keys {
			pipe.Set(ctx, fmt.Sprintf("k%d", i), i, 0)
		}
		_, err := pipe.Exec(ctx)
		return err
	})
	redistest.WaitFor(t, 60*time.Second, "every instance holding the keys", func(ctx context.Context) error {
		for _, n := range []string{"app-1", "app-2", "app-3"} {
			p, err := getPod(ctx, ns, n)
			if err != nil {
				return err
			}
			s, err := instanceStatus(ctx, p)
			if err != nil {
				return err
			}
			if s.Keys != keys {
				return fmt.Errorf("%s has %d keys", n, s.Keys)
			}
		}
		return nil
	})

	oldName := rf.Status.CurrentPrimary
	oldPod, _ := getPod(ctx, ns, oldName)
	st, err := instanceStatus(ctx, oldPod)
	if err != nil {
		t.Fatal(err)
	}
	direct := plainClient(podAddr(oldPod), pw)
	defer direct.Close()
	var accepted atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if direct.Set(ctx, "direct", "x", 0).Err() == nil {
				accepted.Add(1)
			}
		}
	}()
	if err := syscall.Kill(st.RedisPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var newName string
	redistest.WaitFor(t, 90*time.Second, "a new primary holding every key", func(ctx context.Context) error {
		rf, err := getRF(ctx, ns, "app")
		if err != nil {
			return err
		}
		if rf.Status.CurrentPrimary == oldName {
			return fmt.Errorf("still %s", oldName)
		}
		newName = rf.Status.CurrentPrimary
		p, err := getPod(ctx, ns, newName)
		if err != nil {
			return err
		}
		s, err := instanceStatus(ctx, p)
		if err != nil {
			return err
		}
		if s.Role != "primary" || s.Keys != keys {
			return fmt.Errorf("%s: role %s keys %d", newName, s.Role, s.Keys)
		}
		return nil
	})
	redistest.WaitFor(t, 120*time.Second, "the emptied old primary back as a replica with every key", func(ctx context.Context) error {
		p, err := getPod(ctx, ns, oldName)
		if err != nil {
			return err
		}
		s, err := instanceStatus(ctx, p)
		if err != nil {
			return err
		}
		if s.Role != "replica" || !s.Ready || s.Keys != keys {
			return fmt.Errorf("role %s ready %v keys %d", s.Role, s.Ready, s.Keys)
		}
		return nil
	})
	close(stop)
	<-done
	if n := accepted.Load(); n > 0 {
		t.Errorf("the emptied primary accepted %d writes", n)
	}
}

// TestTwinsNeverCrossFollow: two RedisFailovers named app in two namespaces,
// under churn (sentinel and primary pods deleted): every sentinel monitors
// only its own master, and every instance replicates only within its own
// namespace.
func TestTwinsNeverCrossFollow(t *testing.T) {
	t.Parallel() // with the others that mostly wait: see TestMain
	ctx := context.Background()
	nss := []string{newNamespace(t, "twin"), newNamespace(t, "twin")}
	for _, ns := range nss {
		if err := kc.Create(ctx, &haredisv1.RedisFailover{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app"}}); err != nil {
			t.Fatal(err)
		}
	}
	rfs := map[string]*haredisv1.RedisFailover{}
	for _, ns := range nss {
		rfs[ns] = waitRFReady(t, ns, "app", 6*time.Minute)
	}
	if rfs[nss[0]].Status.MasterName == rfs[nss[1]].Status.MasterName {
		t.Fatalf("both have master name %s", rfs[nss[0]].Status.MasterName)
	}
	check := func(round string) {
		for _, ns := range nss {
			if err := ownOnly(ctx, ns, rfs[ns].Status.MasterName, password(t, ns, "app")); err != nil {
				t.Errorf("%s: %s: %v", round, ns, err)
			}
		}
	}
	check("after creation")
	for round := 1; round <= 2; round++ {
		var deleted []*corev1.Pod
		for _, ns := range nss {
			rf, err := getRF(ctx, ns, "app")
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{fmt.Sprintf("app-sentinel-%d", round), rf.Status.CurrentPrimary} {
				old, err := getPod(ctx, ns, name)
				if err != nil {
					t.Fatal(err)
				}
				if err := kc.Delete(ctx, old); err != nil {
					t.Fatal(err)
				}
				deleted = append(deleted, old)
			}
		}
		// The status said Ready before the churn: wait for the new pods
		// first, then for a Ready computed after them.
		for _, old := range deleted {
			redistest.WaitFor(t, 5*time.Minute, old.Name+" replaced and ready", func(ctx context.Context) error {
				p, err := getPod(ctx, old.Namespace, old.Name)
				if err != nil {
					return err
				}
				if p.UID == old.UID {
					return fmt.Errorf("still the old pod")
				}
				if !podReady(p) {
					return fmt.Errorf("not ready")
				}
				return nil
			})
		}
		for _, ns := range nss {
			waitRFReady(t, ns, "app", 5*time.Minute)
		}
		check(fmt.Sprintf("churn round %d", round))
	}
}

// ownOnly checks that every sentinel of ns monitors exactly masterName with
// replicas and peers in ns, and every instance's primary is in ns.
func ownOnly(ctx context.Context, ns, masterName, pw string) error {
	suffix := "." + ns + ".svc.cluster.local"
	var pods corev1.PodList
	if err := kc.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{specs.LabelInstance: "app"}); err != nil {
		return err
	}
	for _, p := range pods.Items {
		switch p.Labels[specs.LabelComponent] {
		case specs.ComponentSentinel:
			sc := redis.NewSentinelClient(&redis.Options{Addr: p.Status.PodIP + ":26379", Password: pw, Dialer: dial})
			masters, err := sc.Masters(ctx).Result()
			if err != nil {
				sc.Close()
				return fmt.Errorf("%s: %w", p.Name, err)
			}
			if len(masters) != 1 {
				sc.Close()
				return fmt.Errorf("%s monitors %d masters", p.Name, len(masters))
			}
			for _, what := range []string{"replicas", "sentinels"} {
				var list []map[string]string
				if what == "replicas" {
					list, err = sc.Replicas(ctx, masterName).Result()
				} else {
					list, err = sc.Sentinels(ctx, masterName).Result()
				}
				if err != nil {
					sc.Close()
					return fmt.Errorf("%s: %s: %w", p.Name, what, err)
				}
				for _, r := range list {
					if !strings.HasSuffix(r["ip"], suffix) {
						sc.Close()
						return fmt.Errorf("%s knows %s %s outside %s", p.Name, what, r["ip"], ns)
					}
				}
			}
			sc.Close()
		case specs.ComponentRedis:
			s, err := instanceStatus(ctx, &p)
			if err != nil {
				return fmt.Errorf("%s: %w", p.Name, err)
			}
			if s.Role == "replica" && !strings.HasSuffix(s.MasterHost, suffix) {
				return fmt.Errorf("%s replicates %s, outside %s", p.Name, s.MasterHost, ns)
			}
		}
	}
	return nil
}
