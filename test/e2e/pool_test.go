package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/plugin"
	"github.com/haredis/haredis/internal/quorum"
	"github.com/haredis/haredis/internal/redistest"
	"github.com/haredis/haredis/internal/sentinel"
	"github.com/haredis/haredis/internal/specs"
	"github.com/haredis/haredis/internal/writeload"
)

// poolRFs is how many RedisFailovers share the pool in TestSentinelPool.
const poolRFs = 10

// TestSentinelPool runs ten RedisFailovers on one pool of three sentinels
// and checks, in sequence: three primaries killed at once each fail over
// on their own, to their own replica; a deleted pool sentinel gets every
// master back and failover still works; the pool scales to five sentinels
// and back to three, every master following with its quorum and peers, and
// failover works at each size; a client of what `kubectl haredis
// sentinel-url` prints follows a failover on the pool; a deleted
// RedisFailover leaves every pool sentinel; one created again on its kept
// volumes, its newest write on a replica the pool never heard of, fails
// over to it once the pool is taught it; a RedisFailover moves from
// dedicated sentinels to the pool and back under a write load without a
// failover or a failed write; bad references are reported; a pool in use
// is not deleted.
func TestSentinelPool(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t, "pool")
	sp := &haredisv1.SentinelPool{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "shared"}}
	if err := kc.Create(ctx, sp); err != nil {
		t.Fatal(err)
	}
	poolAccess := func(ctx context.Context) (sentinel.Access, []string, error) {
		var sec corev1.Secret
		if err := kc.Get(ctx, client.ObjectKey{Namespace: ns, Name: "shared-sentinel-auth"}, &sec); err != nil {
			return sentinel.Access{}, nil, err
		}
		var pods corev1.PodList
		if err := kc.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{haredisv1.LabelSentinelPool: "shared"}); err != nil {
			return sentinel.Access{}, nil, err
		}
		var addrs []string
		for _, p := range pods.Items {
			if p.Status.PodIP == "" || p.DeletionTimestamp != nil {
				return sentinel.Access{}, nil, fmt.Errorf("pool sentinel %s has no address yet", p.Name)
			}
			addrs = append(addrs, fmt.Sprintf("%s:%d", p.Status.PodIP, specs.SentinelPort))
		}
		return sentinel.Access{User: sentinel.PoolAdminUser, Password: string(sec.Data[specs.PoolPasswordKey]), Dialer: dial}, addrs, nil
	}
	// mastersOn lists, per pool sentinel, the masters it monitors.
	poolSize := 3
	mastersOn := func(ctx context.Context) (map[string][]string, error) {
		acc, addrs, err := poolAccess(ctx)
		if err != nil {
			return nil, err
		}
		if len(addrs) != poolSize {
			return nil, fmt.Errorf("%d pool sentinels, want %d", len(addrs), poolSize)
		}
		out := map[string][]string{}
		for _, a := range addrs {
			names, err := sentinel.MasterNames(ctx, a, acc)
			if err != nil {
				return nil, fmt.Errorf("sentinel %s: %w", a, err)
			}
			out[a] = names
		}
		return out, nil
	}

	names := make([]string, poolRFs)
	for i := range names {
		names[i] = fmt.Sprintf("app%d", i)
		rf := &haredisv1.RedisFailover{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: names[i]}}
		rf.Spec.Redis.Replicas = 2
		rf.Spec.Proxy.Enabled = ptr.To(false)
		rf.Spec.Sentinel.PoolRef = &haredisv1.SentinelPoolReference{Name: "shared"}
		if err := kc.Create(ctx, rf); err != nil {
			t.Fatal(err)
		}
	}
	rfs := map[string]*haredisv1.RedisFailover{}
	for _, n := range names {
		rfs[n] = waitRFReady(t, ns, n, 8*time.Minute)
	}
	t.Run("every RedisFailover on the pool, none with sentinels of its own", func(t *testing.T) {
		for _, n := range names {
			rf := rfs[n]
			if rf.Status.SentinelPool != ns+"/shared" || rf.Status.MasterName != rf.PoolMasterName() {
				t.Errorf("%s: status.sentinelPool %q, masterName %q", n, rf.Status.SentinelPool, rf.Status.MasterName)
			}
			if want := "shared-sentinel." + ns + ".svc.cluster.local:26379"; rf.Status.Endpoints.Sentinel != want || !strings.HasSuffix(rf.Status.Endpoints.SentinelURL, want+"/"+rf.PoolMasterName()) {
				t.Errorf("%s: endpoints %+v, want the pool's Service %s", n, rf.Status.Endpoints, want)
			}
		}
		var own corev1.PodList
		if err := kc.List(ctx, &own, client.InNamespace(ns), client.MatchingLabels{specs.LabelComponent: specs.ComponentSentinel}); err != nil || len(own.Items) != 0 {
			t.Errorf("%d dedicated sentinel pods (%v), want none", len(own.Items), err)
		}
		redistest.WaitFor(t, 2*time.Minute, "the pool Ready, serving every RedisFailover", func(ctx context.Context) error {
			p := &haredisv1.SentinelPool{}
			if err := kc.Get(ctx, client.ObjectKey{Namespace: ns, Name: "shared"}, p); err != nil {
				return err
			}
			if p.Status.Phase != haredisv1.PhaseReady || p.Status.FailoverCount != poolRFs || p.Status.ReadySentinels != 3 {
				return fmt.Errorf("phase %s, %d failovers, %d ready, %+v", p.Status.Phase, p.Status.FailoverCount, p.Status.ReadySentinels, p.Status.Conditions)
			}
			return nil
		})
		// A Sentinel-aware client reaches a primary through the pool.
		rf := rfs[names[0]]
		fc := redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName: rf.Status.MasterName, SentinelAddrs: []string{rf.Status.Endpoints.Sentinel},
			Password: password(t, ns, rf.Name), Dialer: dial, DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second,
		})
		defer fc.Close()
		redistest.WaitFor(t, 30*time.Second, "a write through the pool's Sentinel URL", func(ctx context.Context) error {
			return fc.Set(ctx, "via-pool", "1", 0).Err()
		})
	})

	// followOwn checks that the pool's sentinels name, for every master,
	// one of its own RedisFailover's instances.
	followOwn := func(ctx context.Context) error {
		acc, addrs, err := poolAccess(ctx)
		if err != nil {
			return err
		}
		for _, n := range names {
			rf, err := getRF(ctx, ns, n)
			if apierrors.IsNotFound(err) {
				continue
			}
			if err != nil {
				return err
			}
			for _, m := range sentinel.AskMaster(ctx, addrs, acc, rf.PoolMasterName()) {
				if !strings.Contains(m.Addr, "."+rf.HeadlessServiceName()+"."+ns+".") {
					return fmt.Errorf("sentinel %s names %q for %s", m.Sentinel, m.Addr, n)
				}
			}
		}
		return nil
	}

	t.Run("three primaries killed at once fail over each on its own", func(t *testing.T) {
		victims := names[:3]
		old := map[string]string{}
		var pids []int
		for _, n := range victims {
			// A replica that holds data: a killed primary then waits for
			// the failover instead of coming back at once (an empty
			// replica has nothing to keep).
			seed(t, ns, n)
			p, err := getPod(ctx, ns, rfs[n].Status.CurrentPrimary)
			if err != nil {
				t.Fatal(err)
			}
			s, err := instanceStatus(ctx, p)
			if err != nil || s.RedisPID == 0 {
				t.Fatalf("cannot read the pid of %s: %v", p.Name, err)
			}
			old[n], pids = p.Name, append(pids, s.RedisPID)
		}
		for _, pid := range pids {
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
		}
		killed := time.Now()
		for _, n := range victims {
			rf := waitFor2(t, ns, n, 3*time.Minute, n+" failed over", func(rf *haredisv1.RedisFailover) error {
				if rf.Status.CurrentPrimary == old[n] || rf.Status.FailoverCount < 1 || !conditionTrue(rf, haredisv1.ConditionReady) {
					return fmt.Errorf("primary %s, %d failovers", rf.Status.CurrentPrimary, rf.Status.FailoverCount)
				}
				return nil
			})
			if !strings.HasPrefix(rf.Status.CurrentPrimary, n+"-") {
				t.Errorf("%s's primary is %s", n, rf.Status.CurrentPrimary)
			}
			t.Logf("%s: %s took over from %s; Ready %.1fs after the SIGKILLs", n, rf.Status.CurrentPrimary, old[n], time.Since(killed).Seconds())
			// Read back once NAME-primary reaches the new primary (its
			// endpoints follow the role label within moments).
			pc := plainClient(rf.Status.Endpoints.Primary, password(t, ns, n))
			var v string
			redistest.WaitFor(t, 30*time.Second, "a read on "+n+"'s new primary", func(ctx context.Context) error {
				var err error
				v, err = pc.Get(ctx, "seeded").Result()
				return err
			})
			pc.Close()
			if v != n {
				t.Errorf("%s lost its write: read %q", n, v)
			}
		}
		redistest.WaitFor(t, time.Minute, "every pool sentinel following each RedisFailover's own primary", followOwn)
		for _, n := range names[3:] {
			rf := mustRF(t, ns, n)
			if rf.Status.FailoverCount != 0 || rf.Status.CurrentPrimary != rfs[n].Status.CurrentPrimary {
				t.Errorf("%s failed over too: primary %s, %d failovers", n, rf.Status.CurrentPrimary, rf.Status.FailoverCount)
			}
		}
	})

	t.Run("a deleted pool sentinel gets every master back", func(t *testing.T) {
		victim := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "shared-sentinel-2"}}
		if err := kc.Delete(ctx, victim); err != nil {
			t.Fatal(err)
		}
		deleted := time.Now()
		redistest.WaitFor(t, 3*time.Minute, "the new pool sentinel monitoring every master", func(ctx context.Context) error {
			on, err := mastersOn(ctx)
			if err != nil {
				return err
			}
			for a, ms := range on {
				if len(ms) != poolRFs {
					return fmt.Errorf("sentinel %s monitors %d masters", a, len(ms))
				}
			}
			return nil
		})
		t.Logf("every master registered on the new sentinel %.1fs after the delete", time.Since(deleted).Seconds())
		n := names[3]
		waitRFReady(t, ns, n, 2*time.Minute)
		failsOver(t, ns, n, n+" failed over")
		redistest.WaitFor(t, time.Minute, "every pool sentinel following each RedisFailover's own primary", followOwn)
	})

	t.Run("the pool scales to five sentinels and back to three", func(t *testing.T) {
		// scaled waits until every pool sentinel monitors every master with
		// the quorum of the pool's size and knows exactly the other
		// sentinels of the pool.
		scaled := func(size int) {
			poolSize = size
			redistest.WaitFor(t, 4*time.Minute, fmt.Sprintf("%d pool sentinels, each with every master, quorum %d and %d peers", size, quorum.Majority(size), size-1), func(ctx context.Context) error {
				on, err := mastersOn(ctx)
				if err != nil {
					return err
				}
				acc, addrs, err := poolAccess(ctx)
				if err != nil {
					return err
				}
				for a, ms := range on {
					if len(ms) != poolRFs {
						return fmt.Errorf("sentinel %s monitors %d masters", a, len(ms))
					}
				}
				for _, n := range names {
					for _, m := range sentinel.AskMaster(ctx, addrs, acc, rfs[n].PoolMasterName()) {
						switch {
						case !m.Answered() || m.Unknown:
							return fmt.Errorf("sentinel %s does not answer for %s (%v)", m.Sentinel, n, m.Err)
						case m.Quorum != quorum.Majority(size):
							return fmt.Errorf("sentinel %s: quorum %d for %s", m.Sentinel, m.Quorum, n)
						case m.Peers != size-1:
							return fmt.Errorf("sentinel %s knows %d other sentinels of %s", m.Sentinel, m.Peers, n)
						}
					}
				}
				var pool haredisv1.SentinelPool
				if err := kc.Get(ctx, client.ObjectKey{Namespace: ns, Name: "shared"}, &pool); err != nil {
					return err
				}
				if ready := meta.IsStatusConditionTrue(pool.Status.Conditions, haredisv1.ConditionReady); pool.Status.ReadySentinels != int32(size) || !ready {
					return fmt.Errorf("pool status: %d ready sentinels, Ready %v", pool.Status.ReadySentinels, ready)
				}
				return nil
			})
		}
		for _, step := range []struct {
			size   int32
			victim string
		}{{5, names[6]}, {3, names[7]}} {
			var pool haredisv1.SentinelPool
			if err := kc.Get(ctx, client.ObjectKey{Namespace: ns, Name: "shared"}, &pool); err != nil {
				t.Fatal(err)
			}
			patch := client.MergeFrom(pool.DeepCopy())
			pool.Spec.Replicas = step.size
			if err := kc.Patch(ctx, &pool, patch); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			scaled(int(step.size))
			t.Logf("pool at %d sentinels, every master registered with its quorum, after %.1fs", step.size, time.Since(start).Seconds())
			waitRFReady(t, ns, step.victim, 2*time.Minute)
			failsOver(t, ns, step.victim, step.victim+" failed over")
			redistest.WaitFor(t, time.Minute, "every pool sentinel following each RedisFailover's own primary", followOwn)
		}
	})

	t.Run("sentinel-url on the pool across a failover", func(t *testing.T) {
		n := names[8]
		waitRFReady(t, ns, n, 2*time.Minute)
		bin := buildPlugin(t)
		cmd := exec.CommandContext(ctx, bin, "--kubeconfig="+env.Bed.KubeconfigPath, "-n", ns, "sentinel-url", n, "--format", "go-redis", "--show-password")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("kubectl haredis sentinel-url %s: %v\n%s", n, err, stderrOf(err))
		}
		url := strings.TrimSpace(string(out))
		if !strings.Contains(url, "shared-sentinel."+ns) || !strings.Contains(url, rfs[n].PoolMasterName()) {
			t.Errorf("sentinel-url %s names %q, want the pool's Service and the pool master name", n, strings.ReplaceAll(url, password(t, ns, n), plugin.Hidden))
		}
		opts, err := redis.ParseFailoverURL(url)
		if err != nil {
			t.Fatal(err)
		}
		opts.Dialer = dial
		opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = time.Second, 2*time.Second, time.Second
		fc := redis.NewFailoverClient(opts)
		defer fc.Close()
		write := func(key string) {
			t.Helper()
			redistest.WaitFor(t, time.Minute, "a write of "+key+" through the sentinel-url client", func(ctx context.Context) error {
				return fc.Set(ctx, key, "1", 0).Err()
			})
		}
		write("before")
		failsOver(t, ns, n, n+" failed over")
		write("after")
		if v, err := fc.Get(ctx, "before").Result(); err != nil || v != "1" {
			t.Errorf("the write before the failover reads %q (%v) through the sentinel-url client", v, err)
		}
	})

	t.Run("a deleted RedisFailover leaves every pool sentinel", func(t *testing.T) {
		gone := mustRF(t, ns, names[poolRFs-1])
		if err := kc.Delete(ctx, gone); err != nil {
			t.Fatal(err)
		}
		redistest.WaitFor(t, 2*time.Minute, "its master removed from every pool sentinel", func(ctx context.Context) error {
			on, err := mastersOn(ctx)
			if err != nil {
				return err
			}
			for a, ms := range on {
				for _, m := range ms {
					if m == gone.PoolMasterName() {
						return fmt.Errorf("sentinel %s still monitors %s", a, m)
					}
				}
				if len(ms) != poolRFs-1 {
					return fmt.Errorf("sentinel %s monitors %d masters", a, len(ms))
				}
			}
			return nil
		})
		names = names[:poolRFs-1]
	})

	t.Run("created again on its kept volumes, it fails over on the pool", func(t *testing.T) {
		// After a failover NAME-2 is the primary and holds the newest
		// write. Created again, the RedisFailover records NAME-1 as its
		// primary and the pool registers the new master there; NAME-1
		// waits for a failover to NAME-2, which the pool never heard of
		// from a running primary.
		n := names[2]
		if mustRF(t, ns, n).Status.CurrentPrimary != n+"-2" {
			failsOver(t, ns, n, n+" failed over to "+n+"-2")
		}
		seed(t, ns, n)
		old := mustRF(t, ns, n)
		if old.Status.CurrentPrimary != n+"-2" {
			t.Fatalf("the primary is %s, want %s-2", old.Status.CurrentPrimary, n)
		}
		if err := kc.Delete(ctx, old); err != nil {
			t.Fatal(err)
		}
		redistest.WaitFor(t, 3*time.Minute, n+" and its pods gone", func(ctx context.Context) error {
			if _, err := getRF(ctx, ns, n); !apierrors.IsNotFound(err) {
				return fmt.Errorf("still there: %v", err)
			}
			var pods corev1.PodList
			if err := kc.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{specs.LabelInstance: n}); err != nil {
				return err
			}
			if len(pods.Items) > 0 {
				return fmt.Errorf("%d pods left", len(pods.Items))
			}
			return nil
		})
		again := &haredisv1.RedisFailover{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: n}, Spec: *old.Spec.DeepCopy()}
		if err := kc.Create(ctx, again); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		rf := waitRFReady(t, ns, n, 3*time.Minute)
		t.Logf("Ready %s after it was created again, primary %s", time.Since(start).Round(100*time.Millisecond), rf.Status.CurrentPrimary)
		c := plainClient(rf.Status.Endpoints.Primary, password(t, ns, n))
		defer c.Close()
		// The Service NAME-primary is new: the first connection may come
		// before the node's rules for it.
		redistest.WaitFor(t, 30*time.Second, "the write before the deletion read through "+rf.Status.Endpoints.Primary, func(ctx context.Context) error {
			v, err := c.Get(ctx, "seeded").Result()
			if err != nil {
				return err
			}
			if v != n {
				t.Fatalf("the write before the deletion reads %q on the primary %s", v, rf.Status.CurrentPrimary)
			}
			return nil
		})
		// The pool was taught the master and restarted its sentinels to
		// learn it (the restarted one may also have learned nothing new,
		// when the master was registered after its start).
		redistest.WaitFor(t, 30*time.Second, "the events of the pool's teaching", func(ctx context.Context) error {
			if err := eventNamed(ctx, ns, haredisv1.EventSentinelPoolTaught, n+"-1", "shared"); err != nil {
				return err
			}
			return eventNamed(ctx, ns, haredisv1.EventPoolSentinelRestarted, rf.PoolMasterName())
		})
		redistest.WaitFor(t, time.Minute, "every pool sentinel knows the new master's replica", func(ctx context.Context) error {
			acc, addrs, err := poolAccess(ctx)
			if err != nil {
				return err
			}
			for _, a := range sentinel.AskMaster(ctx, addrs, acc, rf.PoolMasterName()) {
				if !a.Answered() || a.Unknown || a.Replicas != 1 {
					return fmt.Errorf("sentinel %s: %+v", a.Sentinel, a)
				}
			}
			return nil
		})
	})

	t.Run("dedicated to pool and back under a write load", func(t *testing.T) {
		rf := &haredisv1.RedisFailover{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "mover"}}
		rf.Spec.Redis.Replicas = 2
		rf.Spec.Proxy.Enabled = ptr.To(false)
		if err := kc.Create(ctx, rf); err != nil {
			t.Fatal(err)
		}
		rf = waitRFReady(t, ns, "mover", 5*time.Minute)
		primary := rf.Status.CurrentPrimary
		pc := plainClient(rf.Status.Endpoints.Primary, password(t, ns, "mover"))
		defer pc.Close()
		redistest.WaitFor(t, 30*time.Second, "a write through "+rf.Status.Endpoints.Primary, func(ctx context.Context) error {
			return pc.Set(ctx, "before-move", "1", 0).Err()
		})
		lctx, cancel := context.WithCancel(ctx)
		defer cancel()
		load := writeload.Start(lctx, pc, writeload.Options{Prefix: "move", Interval: time.Millisecond, MaxDuration: 10 * time.Minute})
		if err := load.WaitAcked(ctx, 200); err != nil {
			t.Fatal(err)
		}
		patchRF(t, ns, "mover", func(rf *haredisv1.RedisFailover) {
			rf.Spec.Sentinel.PoolRef = &haredisv1.SentinelPoolReference{Name: "shared"}
		})
		waitFor2(t, ns, "mover", 3*time.Minute, "on the pool, its own sentinels gone", func(rf *haredisv1.RedisFailover) error {
			var own corev1.PodList
			if err := kc.List(ctx, &own, client.InNamespace(ns), client.MatchingLabels(specs.Selector(rf, specs.ComponentSentinel))); err != nil {
				return err
			}
			if rf.Status.SentinelPool != ns+"/shared" || len(own.Items) > 0 || !conditionTrue(rf, haredisv1.ConditionReady) {
				return fmt.Errorf("sentinelPool %q, %d own sentinel pods", rf.Status.SentinelPool, len(own.Items))
			}
			return nil
		})
		if err := eventNamed(ctx, ns, haredisv1.EventSentinelPoolJoined, "SentinelPool "+ns+"/shared took over"); err != nil {
			t.Error(err)
		}
		patchRF(t, ns, "mover", func(rf *haredisv1.RedisFailover) { rf.Spec.Sentinel.PoolRef = nil })
		rf = waitFor2(t, ns, "mover", 3*time.Minute, "back on its own sentinels", func(rf *haredisv1.RedisFailover) error {
			if rf.Status.SentinelPool != "" || rf.Status.MasterName != rf.MasterName() || !conditionTrue(rf, haredisv1.ConditionReady) {
				return fmt.Errorf("sentinelPool %q, masterName %q", rf.Status.SentinelPool, rf.Status.MasterName)
			}
			return nil
		})
		redistest.WaitFor(t, time.Minute, "the pool no longer monitoring it", func(ctx context.Context) error {
			on, err := mastersOn(ctx)
			if err != nil {
				return err
			}
			for a, ms := range on {
				for _, m := range ms {
					if m == rf.PoolMasterName() {
						return fmt.Errorf("sentinel %s still monitors %s", a, m)
					}
				}
			}
			return nil
		})
		rep := load.Stop()
		t.Logf("write load through %s: %s", rf.Status.Endpoints.Primary, rep.Summary())
		if len(rep.Failures) > 0 {
			t.Errorf("%d writes failed while moving, first %q", len(rep.Failures), rep.Failures[0].Err)
		}
		if rf.Status.CurrentPrimary != primary || rf.Status.FailoverCount != 0 {
			t.Errorf("a failover happened while moving: primary %s (was %s), %d failovers", rf.Status.CurrentPrimary, primary, rf.Status.FailoverCount)
		}
		if lost, err := rep.Lost(ctx, pc); err != nil || len(lost) > 0 {
			t.Errorf("%d acknowledged writes lost (%v)", len(lost), err)
		}
	})

	t.Run("a switchover through the proxy on the pool", func(t *testing.T) {
		n := names[5]
		patchRF(t, ns, n, func(rf *haredisv1.RedisFailover) { rf.Spec.Proxy.Enabled = ptr.To(true) })
		rf := waitFor2(t, ns, n, 3*time.Minute, n+" Ready with its proxies", func(rf *haredisv1.RedisFailover) error {
			if !conditionTrue(rf, haredisv1.ConditionReady) || rf.Status.ReadyProxies < 1 {
				return fmt.Errorf("phase %s, %d proxies ready", rf.Status.Phase, rf.Status.ReadyProxies)
			}
			return nil
		})
		viaURL := plainClient(specs.ServiceHost(rf, rf.ServiceName())+":6379", password(t, ns, n))
		defer viaURL.Close()
		redistest.WaitFor(t, time.Minute, "a write through REDIS_URL", func(ctx context.Context) error {
			return viaURL.Set(ctx, "via-proxy", "1", 0).Err()
		})
		lctx, cancel := context.WithCancel(ctx)
		defer cancel()
		load := writeload.Start(lctx, viaURL, writeload.Options{Prefix: "pool-switchover", Interval: time.Millisecond, MaxDuration: 5 * time.Minute})
		if err := load.WaitAcked(ctx, 200); err != nil {
			t.Fatal(err)
		}
		from, to := rf.Status.CurrentPrimary, n+"-1"
		if from == to {
			to = n + "-2"
		}
		patchStatus(t, ns, n, func(rf *haredisv1.RedisFailover) { rf.Status.TargetPrimary = to })
		rf = waitFor2(t, ns, n, 2*time.Minute, "the switchover to "+to, func(rf *haredisv1.RedisFailover) error {
			ls := rf.Status.LastSwitchover
			if ls == nil || ls.To != to || ls.Result != haredisv1.SwitchoverSucceeded || rf.Status.CurrentPrimary != to {
				return fmt.Errorf("current %s lastSwitchover %+v", rf.Status.CurrentPrimary, ls)
			}
			return nil
		})
		if err := load.WaitAcked(ctx, 200); err != nil {
			t.Errorf("writes through REDIS_URL after the switchover: %v", err)
		}
		rep := load.Stop()
		t.Logf("switchover %s -> %s on the pool, writes held %d ms; REDIS_URL load: %s", from, to, rf.Status.LastSwitchover.WritesHeldMilliseconds, rep.Summary())
		if len(rep.Failures) > 0 {
			t.Errorf("%d writes through REDIS_URL failed, first %q", len(rep.Failures), rep.Failures[0].Err)
		}
		if lost, err := rep.Lost(ctx, viaURL); err != nil || len(lost) > 0 {
			t.Errorf("%d acknowledged writes lost (%v)", len(lost), err)
		}
	})

	t.Run("bad references are reported", func(t *testing.T) {
		missing := &haredisv1.RedisFailover{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "lost"}}
		missing.Spec.Sentinel.PoolRef = &haredisv1.SentinelPoolReference{Name: "nowhere"}
		if err := kc.Create(ctx, missing); err != nil {
			t.Fatal(err)
		}
		waitReason(t, ns, "lost", haredisv1.ReasonSentinelPoolMissing, "does not exist")
		other := newNamespace(t, "pool-other")
		stranger := &haredisv1.RedisFailover{ObjectMeta: metav1.ObjectMeta{Namespace: other, Name: "stranger"}}
		stranger.Spec.Sentinel.PoolRef = &haredisv1.SentinelPoolReference{Name: "shared", Namespace: ns}
		if err := kc.Create(ctx, stranger); err != nil {
			t.Fatal(err)
		}
		waitReason(t, other, "stranger", haredisv1.ReasonSentinelPoolNotAdmitted, "namespaceSelector")
		even := &haredisv1.SentinelPool{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "even"}, Spec: haredisv1.SentinelPoolSpec{Replicas: 4}}
		if err := kc.Create(ctx, even); err == nil || !strings.Contains(err.Error(), "spec.replicas: must be odd") {
			t.Errorf("a pool of 4 sentinels: %v, want the schema's refusal", err)
		}
	})

	t.Run("a pool in use is not deleted", func(t *testing.T) {
		p := &haredisv1.SentinelPool{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "shared"}}
		if err := kc.Delete(ctx, p); err != nil {
			t.Fatal(err)
		}
		redistest.WaitFor(t, time.Minute, "the pool held, naming its users", func(ctx context.Context) error {
			if err := kc.Get(ctx, client.ObjectKeyFromObject(p), p); err != nil {
				return err
			}
			c := meta.FindStatusCondition(p.Status.Conditions, haredisv1.ConditionPoolReady)
			if c == nil || c.Reason != haredisv1.ReasonPoolInUse || !strings.Contains(c.Message, ns+"/app0") {
				return fmt.Errorf("condition %+v", c)
			}
			return nil
		})
		// Still serving: a failover works while the deletion waits.
		n := names[4]
		failsOver(t, ns, n, n+" failed over on a pool being deleted")
	})
}

// failsOver kills the primary of RedisFailover name, once a replica has a
// write it took (so that the primary waits for a failover instead of
// starting again), and waits until another instance is primary and Ready.
func failsOver(t *testing.T, ns, name, what string) {
	t.Helper()
	seed(t, ns, name)
	oldPrimary := killPrimaryOf(t, ns, name)
	waitFor2(t, ns, name, 2*time.Minute, what, func(rf *haredisv1.RedisFailover) error {
		if rf.Status.CurrentPrimary == oldPrimary || !conditionTrue(rf, haredisv1.ConditionReady) {
			return fmt.Errorf("primary %s", rf.Status.CurrentPrimary)
		}
		return nil
	})
}

// killPrimaryOf SIGKILLs the redis-server of RedisFailover name's primary
// and returns the primary's name.
func killPrimaryOf(t *testing.T, ns, name string) string {
	t.Helper()
	ctx := context.Background()
	rf := mustRF(t, ns, name)
	p, err := getPod(ctx, ns, rf.Status.CurrentPrimary)
	if err != nil {
		t.Fatal(err)
	}
	s, err := instanceStatus(ctx, p)
	if err != nil || s.RedisPID == 0 {
		t.Fatalf("cannot read the pid of %s's redis-server: %v", p.Name, err)
	}
	if err := syscall.Kill(s.RedisPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	return p.Name
}

// waitReason waits until RedisFailover name's Ready condition is False
// with reason and a message that holds words.
func waitReason(t *testing.T, ns, name, reason, words string) {
	t.Helper()
	waitFor2(t, ns, name, time.Minute, name+" Ready False with "+reason, func(rf *haredisv1.RedisFailover) error {
		c := meta.FindStatusCondition(rf.Status.Conditions, haredisv1.ConditionReady)
		if c == nil || c.Reason != reason || !strings.Contains(c.Message, words) {
			return fmt.Errorf("Ready %+v", c)
		}
		return nil
	})
}

// seed writes the key seeded (its value the RedisFailover's name) to
// RedisFailover name's primary and waits until a replica has it.
func seed(t *testing.T, ns, name string) {
	t.Helper()
	rf := mustRF(t, ns, name)
	c := plainClient(rf.Status.Endpoints.Primary, password(t, ns, name))
	defer c.Close()
	redistest.WaitFor(t, 30*time.Second, "a write on "+name+"'s primary that a replica has", func(ctx context.Context) error {
		if err := c.Set(ctx, "seeded", name, 0).Err(); err != nil {
			return err
		}
		n, err := c.Do(ctx, "WAIT", 1, 1000).Int()
		if err != nil || n < 1 {
			return fmt.Errorf("WAIT: %d replicas (%v)", n, err)
		}
		return nil
	})
}
