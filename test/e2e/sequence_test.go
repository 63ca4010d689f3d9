package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/haredis/haredis/internal/redistest"

	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/instanceapi"
	"github.com/haredis/haredis/internal/specs"
)

// Recovery bounds on the test bed (2 cores shared by three nodes, every
// process of the control plane and the test): what the documentation
// promises, with room for this machine.
const (
	// failoverBound: from an unplanned fault of the primary to Ready.
	failoverBound = 90 * time.Second
	// fullRestartBound: from the moment every pod runs again to Ready.
	fullRestartBound = 60 * time.Second
)

// dataset writes and checks a growing set of keys through REDIS_URL's
// Sentinel-aware sibling: every key ever acknowledged must be found again.
type dataset struct {
	t    *testing.T
	ns   string
	pw   string
	next int
}

func (d *dataset) client() *redis.Client {
	rf, err := getRF(context.Background(), d.ns, "app")
	if err != nil {
		d.t.Fatal(err)
	}
	return redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName: rf.Status.MasterName, SentinelAddrs: []string{rf.Status.Endpoints.Sentinel},
		Password: d.pw, SentinelPassword: d.pw, Dialer: dial,
		DialTimeout: time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: time.Second,
	})
}

// add writes n more keys, retrying each until acknowledged.
func (d *dataset) add(n int) {
	d.t.Helper()
	c := d.client()
	defer c.Close()
	from := d.next
	redistest.WaitFor(d.t, 2*time.Minute, fmt.Sprintf("keys %d..%d written", from, from+n-1), func(ctx context.Context) error {
		pipe := c.Pipeline()
		for i := d.next; i < from+n; i++ {
			pipe.Set(ctx, fmt.Sprintf("seq:%d", i), i, 0)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return err
		}
		d.next = from + n
		return nil
	})
}

// check reads every acknowledged key from the primary and from every
// instance once it has caught up.
func (d *dataset) check(what string) {
	d.t.Helper()
	redistest.WaitFor(d.t, 2*time.Minute, what+": every acknowledged key on every instance", func(ctx context.Context) error {
		rf, err := getRF(ctx, d.ns, "app")
		if err != nil {
			return err
		}
		for _, is := range rf.Status.Instances {
			p, err := getPod(ctx, d.ns, is.Name)
			if err != nil {
				return err
			}
			c := plainClient(podAddr(p), d.pw)
			n, err := c.Eval(ctx, `local n = 0 for i = 0, tonumber(ARGV[1]) - 1 do if redis.call('EXISTS', 'seq:' .. i) == 1 then n = n + 1 end end return n`, nil, d.next).Int()
			c.Close()
			if err != nil {
				return fmt.Errorf("%s: %w", is.Name, err)
			}
			if n != d.next {
				return fmt.Errorf("%s holds %d of the %d acknowledged keys", is.Name, n, d.next)
			}
		}
		return nil
	})
}

// watchStatus records, until stopped, whether the status ever said Ready
// while writes through the primary Service failed for longer than the
// status poll's lag.
type statusWatch struct {
	stop   context.CancelFunc
	done   chan struct{}
	wrong  []string
	readyN int
}

func watchStatus(t *testing.T, ns, pw string) *statusWatch {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	w := &statusWatch{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		var c *redis.Client
		defer func() {
			if c != nil {
				c.Close()
			}
		}()
		var readySince, failingSince time.Time
		for ctx.Err() == nil {
			// The password is read each time: a RedisFailover created again
			// gets a new one.
			conn := &corev1.Secret{}
			if err := kc.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app-connection"}, conn); err == nil && string(conn.Data[specs.ConnPassword]) != pw {
				pw = string(conn.Data[specs.ConnPassword])
				if c != nil {
					c.Close()
					c = nil
				}
			}
			if c == nil {
				c = plainClient("app-primary."+ns+".svc.cluster.local:6379", pw)
			}
			rf, err := getRF(ctx, ns, "app")
			switch {
			case err != nil || !rf.DeletionTimestamp.IsZero():
				readySince = time.Time{}
			case meta.IsStatusConditionTrue(rf.Status.Conditions, haredisv1.ConditionReady) && rf.Status.ObservedGeneration == rf.Generation:
				if readySince.IsZero() {
					readySince = time.Now()
				}
			default:
				readySince = time.Time{}
			}
			werr := c.Set(ctx, "status-watch", time.Now().UnixNano(), 0).Err()
			switch {
			case werr == nil:
				failingSince = time.Time{}
			case failingSince.IsZero():
				failingSince = time.Now()
			}
			// Ready for over 5 s while writes have failed for over 5 s (the
			// status poll, the Service's endpoints, kube-proxy's rules and
			// a client's reconnection all lag, more so on a loaded machine:
			// a planned restart of a single instance fails a write or two
			// before the status can say so).
			if werr != nil && ctx.Err() == nil && !readySince.IsZero() && time.Since(readySince) > 5*time.Second && time.Since(failingSince) > 5*time.Second {
				w.wrong = append(w.wrong, fmt.Sprintf("%s: Ready since %s but writes fail since %s: %v", time.Now().Format(time.RFC3339Nano), readySince.Format(time.RFC3339Nano), failingSince.Format(time.RFC3339Nano), werr))
			}
			if !readySince.IsZero() {
				w.readyN++
			}
			select {
			case <-ctx.Done():
			case <-time.After(250 * time.Millisecond):
			}
		}
	}()
	return w
}

func (w *statusWatch) finish(t *testing.T) {
	t.Helper()
	w.stop()
	<-w.done
	if len(w.wrong) > 0 {
		t.Errorf("the status said Ready while writes failed, %d times; first: %s", len(w.wrong), w.wrong[0])
	}
}

// TestRecoversFromSequences walks, on one RedisFailover with its data, the
// sequences users hit: a persistence change of a single instance, a scale
// up followed by a crash of the primary, a second failure seconds after
// the first, every pod deleted at once, the RedisFailover deleted and
// created again on its volumes, the auth Secret deleted, the instance
// managers' API used without the operator's credential and settings
// changed behind the operator's back, and a failover while the operator
// is down. After every step each acknowledged key is on every instance, and
// the status never says Ready while writes fail.
func TestRecoversFromSequences(t *testing.T) {
	ns, rf, pw := newReadyRF(t, "seq", func(rf *haredisv1.RedisFailover) {
		rf.Spec.Redis.Replicas = 1
		rf.Spec.Redis.Persistence = haredisv1.PersistenceAOF
	})
	ctx := context.Background()
	d := &dataset{t: t, ns: ns, pw: pw}
	d.add(2000)
	watch := watchStatus(t, ns, pw)

	t.Run("persistence change of a single instance keeps the data", func(t *testing.T) {
		patchRF(t, ns, "app", func(rf *haredisv1.RedisFailover) { rf.Spec.Redis.Persistence = haredisv1.PersistenceRDB })
		waitRolledOut(t, ns)
		d.check("AOF to RDB")
		d.add(100)
	})

	t.Run("scale up then SIGKILL of the primary keeps every copy", func(t *testing.T) {
		patchRF(t, ns, "app", func(rf *haredisv1.RedisFailover) { rf.Spec.Redis.Replicas = 3 })
		rf = waitRFReady(t, ns, "app", 5*time.Minute)
		if rf.Status.ReadyInstances != 3 {
			t.Fatalf("%d ready instances", rf.Status.ReadyInstances)
		}
		d.add(100)
		d.check("scaled up")
		killPrimary(t, ns)
		waitRFReady(t, ns, "app", failoverBound)
		d.check("after the SIGKILL")
	})

	t.Run("a second failure seconds after the first", func(t *testing.T) {
		first := killPrimary(t, ns)
		waitFor2(t, ns, "app", failoverBound, "a new primary named", func(rf *haredisv1.RedisFailover) error {
			if rf.Status.CurrentPrimary == first {
				return fmt.Errorf("still %s", first)
			}
			return nil
		})
		time.Sleep(2 * time.Second) // the fault comes on purpose two seconds after the first recovery
		second := killPrimary(t, ns)
		start := time.Now()
		waitFor2(t, ns, "app", failoverBound, "a third primary", func(rf *haredisv1.RedisFailover) error {
			if rf.Status.CurrentPrimary == second || !conditionTrue(rf, haredisv1.ConditionReady) {
				return fmt.Errorf("primary %s, phase %s", rf.Status.CurrentPrimary, rf.Status.Phase)
			}
			return nil
		})
		took := time.Since(start)
		t.Logf("failed over from %s, then from %s; Ready again %s after the second SIGKILL", first, second, took.Round(100*time.Millisecond))
		if took > 10*time.Second {
			// Not a failure (the bound is failoverBound), but worth reading.
			for i := 1; i <= 3; i++ {
				out, _ := env.Kubectl(ctx, "-n", ns, "logs", fmt.Sprintf("app-sentinel-%d", i), "--tail=40")
				t.Logf("slow second failover; app-sentinel-%d:\n%s", i, out)
			}
		}
		d.check("two failovers")
		d.add(100)
	})

	t.Run("every pod deleted at once", func(t *testing.T) {
		// As a restart of every node does: each pod stopped with its grace
		// period (RDB persistence saves a snapshot then; a power loss, which
		// loses what was not saved, is a fault of the chaos suite).
		var pods corev1.PodList
		if err := kc.List(ctx, &pods, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		for i := range pods.Items {
			if err := kc.Delete(ctx, &pods.Items[i]); err != nil && !apierrors.IsNotFound(err) {
				t.Fatal(err)
			}
		}
		redistest.WaitFor(t, 3*time.Minute, "every pod replaced and running", func(ctx context.Context) error {
			return allReplacedRunning(ctx, ns, pods.Items)
		})
		start := time.Now()
		redistest.WaitFor(t, fullRestartBound, "Ready after the full restart", func(ctx context.Context) error {
			rf, err := getRF(ctx, ns, "app")
			if err != nil {
				return err
			}
			if !conditionTrue(rf, haredisv1.ConditionReady) {
				c := meta.FindStatusCondition(rf.Status.Conditions, haredisv1.ConditionReady)
				return fmt.Errorf("Ready: %+v", c)
			}
			return nil
		})
		t.Logf("Ready %s after every pod ran again", time.Since(start).Round(100*time.Millisecond))
		d.check("full restart")
		d.add(100)
	})

	t.Run("deleted and created again on its volumes", func(t *testing.T) {
		old, err := getRF(ctx, ns, "app")
		if err != nil {
			t.Fatal(err)
		}
		if err := kc.Delete(ctx, old); err != nil {
			t.Fatal(err)
		}
		redistest.WaitFor(t, 3*time.Minute, "the RedisFailover and its pods gone", func(ctx context.Context) error {
			if _, err := getRF(ctx, ns, "app"); !apierrors.IsNotFound(err) {
				return fmt.Errorf("still there: %v", err)
			}
			var pods corev1.PodList
			if err := kc.List(ctx, &pods, client.InNamespace(ns)); err != nil {
				return err
			}
			if len(pods.Items) > 0 {
				return fmt.Errorf("%d pods left", len(pods.Items))
			}
			return nil
		})
		again := &haredisv1.RedisFailover{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app"}}
		again.Spec.Redis.Replicas = 3
		again.Spec.Redis.Persistence = haredisv1.PersistenceRDB
		again.Spec.Redis.Config = map[string]haredisv1.ConfigValue{"notify-keyspace-events": "gxE"}
		if err := kc.Create(ctx, again); err != nil {
			t.Fatal(err)
		}
		rf := waitRFReady(t, ns, "app", 5*time.Minute)
		pw = password(t, ns, "app")
		d.pw = pw
		d.check("adopted volumes")
		if err := onEveryInstance(rf, "notify-keyspace-events", "gxE"); err != nil {
			t.Errorf("the new parameter group is not in force: %v", err)
		}
		d.add(100)
	})

	t.Run("the auth Secret deleted", func(t *testing.T) {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app-auth"}}
		if err := kc.Delete(ctx, s); err != nil {
			t.Fatal(err)
		}
		redistest.WaitFor(t, time.Minute, "the Secret restored with the password in force", func(ctx context.Context) error {
			got := &corev1.Secret{}
			if err := kc.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app-auth"}, got); err != nil {
				return err
			}
			if string(got.Data["password"]) != pw {
				return errors.New("another password")
			}
			return eventNamed(ctx, ns, haredisv1.EventPasswordSecretRestored, "app-auth")
		})
		conn := &corev1.Secret{}
		if err := kc.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app-connection"}, conn); err != nil {
			t.Fatal(err)
		}
		if string(conn.Data[specs.ConnPassword]) != pw {
			t.Error("the connection Secret holds another password")
		}
		d.add(10)
	})

	t.Run("the managers' API needs the operator's credential and drift is undone", func(t *testing.T) {
		rf, err := getRF(ctx, ns, "app")
		if err != nil {
			t.Fatal(err)
		}
		p, err := getPod(ctx, ns, rf.Status.CurrentPrimary)
		if err != nil {
			t.Fatal(err)
		}
		ic, err := env.InstanceClient(ctx, ns, "app", p.Status.PodIP)
		if err != nil {
			t.Fatal(err)
		}
		anonymous := *ic
		anonymous.Token = ""
		bad := instanceapi.PutConfigRequest{Config: map[string]string{}, Durability: &instanceapi.Durability{MinReplicasToWrite: 2, MaxLagSeconds: 10}}
		if _, err := anonymous.PutConfig(ctx, bad); instanceapi.StatusCode(err) != http.StatusUnauthorized {
			t.Fatalf("PUT /config without the token: %v, want 401", err)
		}
		// Someone holding the credential, or a redis-cli with the admin
		// user's password, changes the primary behind the operator's back:
		// it is put back.
		bad.Generation = rf.Generation
		if _, err := ic.PutConfig(ctx, bad); err != nil {
			t.Fatal(err)
		}
		// The application user cannot change a parameter at all.
		app := plainClient(podAddr(p), pw)
		defer app.Close()
		if err := app.ConfigSet(ctx, "min-replicas-to-write", "2").Err(); err == nil || !strings.HasPrefix(err.Error(), "NOPERM") {
			t.Fatalf("CONFIG SET as the application user: %v, want NOPERM", err)
		}
		direct, err := adminClient(ctx, ns, "app", podAddr(p))
		if err != nil {
			t.Fatal(err)
		}
		defer direct.Close()
		redistest.WaitFor(t, time.Minute, "the parameter group and durability restored, with an event", func(ctx context.Context) error {
			if err := onEveryInstance(rf, "notify-keyspace-events", "gxE"); err != nil {
				return err
			}
			v, err := direct.ConfigGet(ctx, "min-replicas-to-write").Result()
			if err != nil || v["min-replicas-to-write"] != "1" {
				return fmt.Errorf("min-replicas-to-write %v (%v)", v, err)
			}
			return eventNamed(ctx, ns, haredisv1.EventConfigRestored, rf.Status.CurrentPrimary)
		})
		if err := direct.ConfigSet(ctx, "min-replicas-to-write", "2").Err(); err != nil {
			t.Fatal(err)
		}
		if err := direct.ConfigSet(ctx, "notify-keyspace-events", "").Err(); err != nil {
			t.Fatal(err)
		}
		redistest.WaitFor(t, time.Minute, "durability and a parameter set with redis-cli restored", func(ctx context.Context) error {
			v, err := direct.ConfigGet(ctx, "min-replicas-to-write").Result()
			if err != nil || v["min-replicas-to-write"] != "1" {
				return fmt.Errorf("min-replicas-to-write %v (%v)", v, err)
			}
			if err := onEveryInstance(rf, "notify-keyspace-events", "gxE"); err != nil {
				return err
			}
			return eventNamed(ctx, ns, haredisv1.EventConfigRestored, "notify-keyspace-events")
		})
		d.add(10)
	})

	// With the operator down the status cannot follow what happens: the
	// watch ends here.
	watch.finish(t)

	t.Run("with the operator down the primary Service follows the primary", func(t *testing.T) {
		rf, err := getRF(ctx, ns, "app")
		if err != nil {
			t.Fatal(err)
		}
		old := rf.Status.CurrentPrimary
		scaleOperator(t, 0)
		defer scaleOperator(t, 1)
		sc := redis.NewSentinelClient(&redis.Options{Addr: rf.Status.Endpoints.Sentinel, Password: pw, Dialer: dial})
		defer sc.Close()
		if err := sc.Failover(ctx, rf.Status.MasterName).Err(); err != nil {
			t.Fatal(err)
		}
		oldPod, err := getPod(ctx, ns, old)
		if err != nil {
			t.Fatal(err)
		}
		redistest.WaitFor(t, time.Minute, "the demoted primary out of app-primary's endpoints", func(ctx context.Context) error {
			s, err := instanceStatus(ctx, oldPod)
			if err != nil {
				return err
			}
			if s.Role != instanceapi.RoleReplica {
				return fmt.Errorf("%s is still %s", old, s.Role)
			}
			if p, _ := getPod(ctx, ns, old); p.Labels[haredisv1.LabelRole] != "primary" {
				return fmt.Errorf("the label moved although the operator is down")
			}
			return endpointReady(ctx, ns, "app-primary", oldPod.Status.PodIP, false)
		})
	})
	waitRFReady(t, ns, "app", failoverBound)
	d.check("at the end")
}

// killPrimary SIGKILLs the current primary's redis-server and returns its
// name.
func killPrimary(t *testing.T, ns string) string {
	t.Helper()
	return killPrimaryOf(t, ns, "app")
}

// waitRolledOut waits until every instance runs the current revision and
// the RedisFailover is Ready.
func waitRolledOut(t *testing.T, ns string) {
	t.Helper()
	waitFor2(t, ns, "app", 5*time.Minute, "the rolling update done", func(rf *haredisv1.RedisFailover) error {
		if !conditionTrue(rf, haredisv1.ConditionReady) || rf.Status.UpdatedInstances != rf.Spec.Redis.Replicas || conditionTrue(rf, haredisv1.ConditionProgressing) {
			return fmt.Errorf("phase %s, %d of %d updated", rf.Status.Phase, rf.Status.UpdatedInstances, rf.Spec.Redis.Replicas)
		}
		return nil
	})
}

func allReplacedRunning(ctx context.Context, ns string, old []corev1.Pod) error {
	var pods corev1.PodList
	if err := kc.List(ctx, &pods, client.InNamespace(ns)); err != nil {
		return err
	}
	uids := map[string]bool{}
	for _, p := range old {
		uids[string(p.UID)] = true
	}
	running := 0
	var not []string
	for _, p := range pods.Items {
		if uids[string(p.UID)] {
			return fmt.Errorf("%s not replaced yet", p.Name)
		}
		if p.Status.Phase == corev1.PodRunning {
			running++
		} else {
			not = append(not, fmt.Sprintf("%s (%s)", p.Name, p.Status.Phase))
		}
	}
	if running < len(old) {
		return fmt.Errorf("%d of %d pods running; not running: %v", running, len(old), not)
	}
	return nil
}

func scaleOperator(t *testing.T, replicas int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if out, err := env.Kubectl(ctx, "-n", "haredis-system", "scale", "deployment/haredis-operator", fmt.Sprintf("--replicas=%d", replicas)); err != nil {
		t.Fatalf("cannot scale the operator: %v\n%s", err, out)
	}
	redistest.WaitFor(t, 3*time.Minute, fmt.Sprintf("%d operator pods", replicas), func(ctx context.Context) error {
		var pods corev1.PodList
		if err := kc.List(ctx, &pods, client.InNamespace("haredis-system")); err != nil {
			return err
		}
		n := 0
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil && (replicas == 0 || podReady(&p)) {
				n++
			}
		}
		if n != replicas {
			return fmt.Errorf("%d operator pods", n)
		}
		return nil
	})
}

// endpointReady checks whether ip is a ready endpoint of Service svc.
func endpointReady(ctx context.Context, ns, svc, ip string, want bool) error {
	var slices discoveryv1.EndpointSliceList
	if err := kc.List(ctx, &slices, client.InNamespace(ns), client.MatchingLabels{discoveryv1.LabelServiceName: svc}); err != nil {
		return err
	}
	got := false
	for _, s := range slices.Items {
		for _, e := range s.Endpoints {
			for _, a := range e.Addresses {
				if a == ip && ptr.Deref(e.Conditions.Ready, false) {
					got = true
				}
			}
		}
	}
	if got != want {
		return fmt.Errorf("%s ready in %s: %v, want %v", ip, svc, got, want)
	}
	return nil
}
