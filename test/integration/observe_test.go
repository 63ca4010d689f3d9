package integration

import (
	"context"
	"errors"
	"fmt"
	"github.com/haredis/haredis/internal/acl"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/instance"
	"github.com/haredis/haredis/internal/plugin"
	"github.com/haredis/haredis/internal/redistest"
	"github.com/haredis/haredis/internal/specs"
	"github.com/haredis/haredis/internal/writeload"
)

// loopbackReach points the operator at instance managers and sentinels
// running as processes on loopback, standing in for pod IPs.
type loopbackReach struct {
	managers  map[string]*instance.Manager
	hosts     map[string]string
	sentinels []string
}

func (l *loopbackReach) InstanceURL(_ *haredisv1.RedisFailover, pod *corev1.Pod) string {
	m := l.managers[pod.Name]
	if m == nil || m.HTTPAddr() == "" {
		return ""
	}
	return "http://" + m.HTTPAddr()
}

func (l *loopbackReach) SentinelAddrs(*haredisv1.RedisFailover, []corev1.Pod) []string {
	return l.sentinels
}

func (l *loopbackReach) InstanceAt(_ *haredisv1.RedisFailover, host string, port int) string {
	for n, hp := range l.hosts {
		if hp == net.JoinHostPort(host, strconv.Itoa(port)) {
			return n
		}
	}
	return ""
}

func (l *loopbackReach) RedisAddr(_ *haredisv1.RedisFailover, pod *corev1.Pod) string {
	return l.hosts[pod.Name]
}

func (l *loopbackReach) ProxyAdminURL(*haredisv1.RedisFailover, *corev1.Pod) string { return "" }

func (l *loopbackReach) InstanceAddr(_ *haredisv1.RedisFailover, name string) (string, int) {
	h, p, _ := net.SplitHostPort(l.hosts[name])
	port, _ := strconv.Atoi(p)
	return h, port
}

// probeReadiness stands in for the kubelet, which does not run here: it
// sets each pod's Ready condition from its instance manager's readiness,
// as the pod's readiness probe on /readyz would.
func probeReadiness(t *testing.T, ns string, reach *loopbackReach) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			for name, m := range reach.managers {
				want := corev1.ConditionFalse
				if m.Status().Ready {
					want = corev1.ConditionTrue
				}
				pod := &corev1.Pod{}
				if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, pod); err != nil {
					continue
				}
				if podCondition(pod, corev1.PodReady) == want {
					continue
				}
				setPodCondition(pod, corev1.PodReady, want)
				_ = k8sClient.Status().Update(ctx, pod) // a conflict is retried on the next tick
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
}

func podCondition(pod *corev1.Pod, t corev1.PodConditionType) corev1.ConditionStatus {
	for _, c := range pod.Status.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return corev1.ConditionUnknown
}

func setPodCondition(pod *corev1.Pod, t corev1.PodConditionType, s corev1.ConditionStatus) {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == t {
			pod.Status.Conditions[i].Status = s
			pod.Status.Conditions[i].LastTransitionTime = metav1.Now()
			return
		}
	}
	pod.Status.Conditions = append(pod.Status.Conditions, corev1.PodCondition{Type: t, Status: s, LastTransitionTime: metav1.Now()})
}

// TestObservesFailoverAndLiveConfig runs the real instance manager and
// redis-sentinel for the three instances of a RedisFailover on loopback:
// the operator reports Ready from their answers, follows Sentinel's
// failover after a SIGKILL of the primary's redis-server (status, labels,
// event), and applies the parameter group live, reporting Redis's refusal
// of an invalid one as ConfigInvalid.
func TestObservesFailoverAndLiveConfig(t *testing.T) {
	ns := newNamespace(t, "observe")
	createRF(t, ns, "app", func(rf *haredisv1.RedisFailover) {
		// No kubelet runs proxy pods here; the proxy has its own tests.
		rf.Spec.Proxy.Enabled = ptr.To(false)
		rf.Spec.Sentinel.DownAfter = &metav1.Duration{Duration: time.Second}
		rf.Spec.Sentinel.FailoverTimeout = &metav1.Duration{Duration: 5 * time.Second}
	})
	reach := &loopbackReach{managers: map[string]*instance.Manager{}, hosts: map[string]string{}}
	startOperator(t, reach, ns)

	// The operator records the identity and generates the password first.
	var rf *haredisv1.RedisFailover
	var password, token string
	var internal *corev1.Secret
	redistest.WaitFor(t, 30*time.Second, "master name, password and manager token", func(ctx context.Context) error {
		var err error
		if rf, err = getRF(ctx, ns, "app"); err != nil {
			return err
		}
		s := &corev1.Secret{}
		if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app-internal"}, s); err != nil {
			return err
		}
		password, token, internal = string(s.Data[specs.PasswordKey]), string(s.Data[specs.TokenKey]), s
		if rf.Status.MasterName == "" {
			return errors.New("no master name")
		}
		return nil
	})

	names := []string{"app-1", "app-2", "app-3"}
	managers := map[string]string{}
	for _, n := range names {
		reach.hosts[n] = fmt.Sprintf("127.0.0.1:%d", redistest.StablePort(t))
		managers[n] = fmt.Sprintf("127.0.0.1:%d", redistest.StablePort(t))
	}
	var logs []string // every log, printed when the test fails
	for range 3 {
		s, err := redistest.StartSentinel(redistest.SentinelConfig{MasterName: rf.MasterName(), MasterAddr: reach.hosts["app-1"],
			Quorum: 2, DownAfter: time.Second, FailoverTimeout: 5 * time.Second, Password: password,
			// As sentinel.conf renders it with ACL users.
			Extra: []string{"sentinel auth-user " + rf.MasterName() + " " + acl.SentinelUser,
				"sentinel auth-pass " + rf.MasterName() + " " + string(internal.Data[acl.SentinelPasswordKey])}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		reach.sentinels = append(reach.sentinels, s.Addr())
		logs = append(logs, filepath.Join(s.Dir(), "redis.log"))
	}
	// instance.json as the operator renders it, with loopback addresses.
	cfg := specs.InstanceConfig(rf, names, nil)
	cfg.HostTemplate, cfg.Hosts, cfg.Sentinels, cfg.Managers = "", reach.hosts, reach.sentinels, managers
	pwFile := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The internal users' passwords, mounted as in a pod.
	internalDir := t.TempDir()
	for _, k := range []string{acl.AdminPasswordKey, acl.ReplicationPasswordKey, acl.SentinelPasswordKey} {
		if err := os.WriteFile(filepath.Join(internalDir, k), internal.Data[k], 0o600); err != nil {
			t.Fatal(err)
		}
	}
	adminPW := string(internal.Data[acl.AdminPasswordKey])
	tokenFile := filepath.Join(t.TempDir(), "manager-token")
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		_, port, _ := net.SplitHostPort(reach.hosts[n])
		p, _ := strconv.Atoi(port)
		out, err := os.Create(filepath.Join(t.TempDir(), "redis.log"))
		if err != nil {
			t.Fatal(err)
		}
		logs = append(logs, out.Name())
		m, err := instance.New(instance.Options{
			Config: cfg, Self: n, PasswordFile: pwFile, InternalPasswordsDir: internalDir, TokenFile: tokenFile, DataDir: t.TempDir(), RunDir: t.TempDir(), RedisPort: p,
			Bind: []string{"127.0.0.1"}, HTTPListen: managers[n], BootWait: 5 * time.Second, DecideInterval: 200 * time.Millisecond,
			StopTimeout: 10 * time.Second, RedisOutput: out, Log: slog.New(slog.NewTextHandler(out, nil)),
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = m.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done; out.Close() })
		reach.managers[n] = m
	}
	probeReadiness(t, ns, reach)
	t.Cleanup(func() {
		if t.Failed() {
			for _, l := range logs {
				b, _ := os.ReadFile(l)
				t.Logf("%s:\n%s", l, b)
			}
		}
	})

	waitReady := func(what string) *haredisv1.RedisFailover {
		var got *haredisv1.RedisFailover
		redistest.WaitFor(t, 120*time.Second, what, func(ctx context.Context) error {
			rf, err := getRF(ctx, ns, "app")
			if err != nil {
				return err
			}
			c := meta.FindStatusCondition(rf.Status.Conditions, haredisv1.ConditionReady)
			if c == nil || c.Status != metav1.ConditionTrue || rf.Status.Phase != haredisv1.PhaseReady || rf.Status.ReadyInstances != 3 {
				return fmt.Errorf("phase %s ready %d condition %+v", rf.Status.Phase, rf.Status.ReadyInstances, c)
			}
			got = rf
			return nil
		})
		return got
	}
	rf = waitReady("Ready with one primary and two replicas")
	if rf.Status.CurrentPrimary != "app-1" {
		t.Fatalf("currentPrimary %s, want app-1", rf.Status.CurrentPrimary)
	}
	for _, is := range rf.Status.Instances {
		wantRole := haredisv1.RoleReplica
		if is.Name == "app-1" {
			wantRole = haredisv1.RolePrimary
		}
		if is.Role != wantRole || !is.Ready {
			t.Errorf("instance %+v, want role %s and ready", is, wantRole)
		}
	}

	// Data on every instance: a restarted primary then waits for the
	// failover instead of booting as primary over its replicas.
	redistest.WaitFor(t, 30*time.Second, "a key on every instance", func(ctx context.Context) error {
		p := redis.NewClient(&redis.Options{Addr: reach.hosts["app-1"], Password: password})
		defer p.Close()
		if err := p.Set(ctx, "k", "v", 0).Err(); err != nil {
			return err
		}
		for _, n := range names[1:] {
			c := redis.NewClient(&redis.Options{Addr: reach.hosts[n], Password: password})
			v, err := c.Get(ctx, "k").Result()
			c.Close()
			if err != nil || v != "v" {
				return fmt.Errorf("%s: %q %v", n, v, err)
			}
		}
		return nil
	})

	// SIGKILL of the primary's redis-server: Sentinel fails over, the
	// operator follows with status, labels and an event.
	killed := time.Now()
	if err := syscall.Kill(reach.managers["app-1"].Status().RedisPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var newPrimary string
	redistest.WaitFor(t, 60*time.Second, "the operator to follow the failover", func(ctx context.Context) error {
		rf, err := getRF(ctx, ns, "app")
		if err != nil {
			return err
		}
		if rf.Status.CurrentPrimary == "app-1" || rf.Status.FailoverCount != 1 || rf.Status.LastFailoverTime == nil {
			return fmt.Errorf("currentPrimary %s failoverCount %d", rf.Status.CurrentPrimary, rf.Status.FailoverCount)
		}
		newPrimary = rf.Status.CurrentPrimary
		for _, n := range names {
			pod := &corev1.Pod{}
			if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: n}, pod); err != nil {
				return err
			}
			want := "replica"
			if n == newPrimary {
				want = "primary"
			}
			if pod.Labels[haredisv1.LabelRole] != want {
				return fmt.Errorf("pod %s has role label %q, want %q", n, pod.Labels[haredisv1.LabelRole], want)
			}
		}
		return nil
	})
	t.Logf("labels followed the failover to %s %.1fs after the SIGKILL (down-after 1s)", newPrimary, time.Since(killed).Seconds())
	// The instance manager reads INFO once a second, so its own report may
	// trail the operator's by that much.
	redistest.WaitFor(t, 5*time.Second, newPrimary+" to report itself primary", func(context.Context) error {
		if role := reach.managers[newPrimary].Status().Role; role != "primary" {
			return fmt.Errorf("the operator names %s primary but it reports %s", newPrimary, role)
		}
		return nil
	})
	redistest.WaitFor(t, 30*time.Second, "a Failover event naming both primaries", func(ctx context.Context) error {
		var evs eventsv1.EventList
		if err := k8sClient.List(ctx, &evs, client.InNamespace(ns)); err != nil {
			return err
		}
		for _, e := range evs.Items {
			if e.Reason == haredisv1.EventFailover && strings.Contains(e.Note, "app-1") && strings.Contains(e.Note, newPrimary) {
				return nil
			}
		}
		return fmt.Errorf("%d events, none a Failover from app-1 to %s", len(evs.Items), newPrimary)
	})
	rf = waitReady("Ready again with the old primary back as a replica")
	for _, is := range rf.Status.Instances {
		if is.Name == "app-1" && is.Role != haredisv1.RoleReplica {
			t.Errorf("old primary is %s, want replica", is.Role)
		}
	}

	// A sentinel that lost the master (SENTINEL REMOVE, as after a reset) is
	// set back to monitor the primary the other sentinels agree on.
	lost := redis.NewSentinelClient(&redis.Options{Addr: reach.sentinels[0], Password: password})
	defer lost.Close()
	if err := lost.Remove(context.Background(), rf.MasterName()).Err(); err != nil {
		t.Fatal(err)
	}
	redistest.WaitFor(t, 30*time.Second, "the operator to repair the sentinel", func(ctx context.Context) error {
		addr, err := lost.GetMasterAddrByName(ctx, rf.MasterName()).Result()
		if err != nil {
			return err
		}
		if got := net.JoinHostPort(addr[0], addr[1]); got != reach.hosts[newPrimary] {
			return fmt.Errorf("repaired sentinel monitors %s, want %s (%s)", got, reach.hosts[newPrimary], newPrimary)
		}
		return nil
	})

	// Live config: Redis refuses an invalid value; nothing changes.
	pidBefore := reach.managers[newPrimary].Status().RedisPID
	setConfig := func(group map[string]haredisv1.ConfigValue) {
		redistest.WaitFor(t, 10*time.Second, "spec update", func(ctx context.Context) error {
			rf, err := getRF(ctx, ns, "app")
			if err != nil {
				return err
			}
			rf.Spec.Redis.Config = group
			return k8sClient.Update(ctx, rf)
		})
	}
	setConfig(map[string]haredisv1.ConfigValue{"maxmemory-policy": "bogus"})
	redistest.WaitFor(t, 60*time.Second, "ConfigInvalid with Redis's message", func(ctx context.Context) error {
		rf, err := getRF(ctx, ns, "app")
		if err != nil {
			return err
		}
		c := meta.FindStatusCondition(rf.Status.Conditions, haredisv1.ConditionConfigInvalid)
		if c == nil || c.Status != metav1.ConditionTrue || !strings.Contains(c.Message, "maxmemory-policy") {
			return fmt.Errorf("condition %+v", c)
		}
		return nil
	})
	setConfig(map[string]haredisv1.ConfigValue{"notify-keyspace-events": "gxE"})
	redistest.WaitFor(t, 60*time.Second, "the valid group applied live on every instance", func(ctx context.Context) error {
		rf, err := getRF(ctx, ns, "app")
		if err != nil {
			return err
		}
		if c := meta.FindStatusCondition(rf.Status.Conditions, haredisv1.ConditionConfigInvalid); c == nil || c.Status != metav1.ConditionFalse {
			return fmt.Errorf("condition %+v", c)
		}
		for _, n := range names {
			c := redis.NewClient(&redis.Options{Addr: reach.hosts[n], Username: acl.AdminUser, Password: adminPW})
			v, err := c.ConfigGet(ctx, "notify-keyspace-events").Result()
			c.Close()
			if err != nil {
				return err
			}
			if got := v["notify-keyspace-events"]; len(got) != 3 || !strings.ContainsAny(got, "g") {
				return fmt.Errorf("%s has notify-keyspace-events %q", n, got)
			}
		}
		return nil
	})
	if pid := reach.managers[newPrimary].Status().RedisPID; pid != pidBefore {
		t.Errorf("redis-server of %s restarted (pid %d -> %d); live config must not restart", newPrimary, pidBefore, pid)
	}

	// Durability applied live: spec.durability reaches every instance's
	// min-replicas-to-write without a restart.
	redistest.WaitFor(t, 10*time.Second, "spec update", func(ctx context.Context) error {
		rf, err := getRF(ctx, ns, "app")
		if err != nil {
			return err
		}
		rf.Spec.Durability.MinReplicasToWrite = ptr.To[int32](2)
		return k8sClient.Update(ctx, rf)
	})
	redistest.WaitFor(t, 60*time.Second, "min-replicas-to-write 2 on every instance", func(ctx context.Context) error {
		for _, n := range names {
			c := redis.NewClient(&redis.Options{Addr: reach.hosts[n], Username: acl.AdminUser, Password: adminPW})
			v, err := c.ConfigGet(ctx, "min-replicas-to-write").Result()
			c.Close()
			if err != nil {
				return err
			}
			if v["min-replicas-to-write"] != "2" {
				return fmt.Errorf("%s has min-replicas-to-write %q", n, v["min-replicas-to-write"])
			}
		}
		return nil
	})
	if pid := reach.managers[newPrimary].Status().RedisPID; pid != pidBefore {
		t.Errorf("redis-server of %s restarted (pid %d -> %d) for a durability change", newPrimary, pidBefore, pid)
	}

	testSwitchover(t, ns, reach, password, names)
}

// testSwitchover asks for planned switchovers through status.targetPrimary:
// one to an instance that does not exist (refused, nothing changes), then
// one to a replica under a steady write load from a Sentinel-aware client
// (every acknowledged write kept, status, labels and event follow).
func testSwitchover(t *testing.T, ns string, reach *loopbackReach, password string, names []string) {
	ctx := context.Background()
	requestSwitchover := func(to string) {
		redistest.WaitFor(t, 10*time.Second, "status.targetPrimary "+to, func(ctx context.Context) error {
			rf, err := getRF(ctx, ns, "app")
			if err != nil {
				return err
			}
			rf.Status.TargetPrimary = to
			return k8sClient.Status().Update(ctx, rf)
		})
	}
	rf, err := getRF(ctx, ns, "app")
	if err != nil {
		t.Fatal(err)
	}
	from := rf.Status.CurrentPrimary
	requestSwitchover("app-9")
	redistest.WaitFor(t, 30*time.Second, "the bad target refused", func(ctx context.Context) error {
		rf, err := getRF(ctx, ns, "app")
		if err != nil {
			return err
		}
		ls := rf.Status.LastSwitchover
		if ls == nil || ls.To != "app-9" || ls.Result != haredisv1.SwitchoverFailed || !strings.Contains(ls.Message, "status.targetPrimary: app-9 is not an instance") {
			return fmt.Errorf("lastSwitchover %+v", ls)
		}
		if rf.Status.TargetPrimary != from || rf.Status.CurrentPrimary != from {
			return fmt.Errorf("target %s current %s, want both %s", rf.Status.TargetPrimary, rf.Status.CurrentPrimary, from)
		}
		return nil
	})

	to := ""
	for _, n := range names {
		if n != from {
			to = n
			break
		}
	}
	fc := redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName: rf.MasterName(), SentinelAddrs: reach.sentinels, Password: password, SentinelPassword: password,
		DialTimeout: time.Second, ReadTimeout: 3 * time.Second, WriteTimeout: time.Second,
	})
	defer fc.Close()
	lctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	load := writeload.Start(lctx, fc, writeload.Options{Prefix: "switchover"})
	if err := load.WaitAcked(lctx, 100); err != nil {
		t.Fatal(err)
	}
	// kubectl haredis promote: refuses a name that is no instance, then
	// asks for the switchover and waits for its outcome.
	var out strings.Builder
	if err := plugin.Promote(ctx, k8sClient, &out, ns, "app", "app-7", time.Minute); err == nil || !strings.Contains(err.Error(), "app-7 is not an instance of app") {
		t.Errorf("promote app-7: %v, want a refusal listing the instances", err)
	}
	if err := plugin.Promote(ctx, k8sClient, &out, ns, "app", to, time.Minute); err != nil {
		t.Fatalf("kubectl haredis promote %s: %v\n%s", to, err, out.String())
	}
	t.Logf("kubectl haredis promote printed:\n%s", out.String())
	if !strings.Contains(out.String(), "switched over from "+from+" to "+to) {
		t.Errorf("promote printed %q, want the outcome", out.String())
	}
	redistest.WaitFor(t, 60*time.Second, "the switchover to "+to, func(ctx context.Context) error {
		rf, err := getRF(ctx, ns, "app")
		if err != nil {
			return err
		}
		ls := rf.Status.LastSwitchover
		if ls == nil || ls.To != to || ls.Result != haredisv1.SwitchoverSucceeded || rf.Status.CurrentPrimary != to || rf.Status.TargetPrimary != to {
			return fmt.Errorf("current %s target %s lastSwitchover %+v", rf.Status.CurrentPrimary, rf.Status.TargetPrimary, ls)
		}
		pod := &corev1.Pod{}
		if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: to}, pod); err != nil {
			return err
		}
		if pod.Labels[haredisv1.LabelRole] != "primary" {
			return fmt.Errorf("pod %s has role label %q", to, pod.Labels[haredisv1.LabelRole])
		}
		return nil
	})
	if err := load.WaitAcked(lctx, 100); err != nil {
		t.Fatalf("writes did not resume after the switchover: %v", err)
	}
	rep := load.Stop()
	t.Log(rep.Summary())
	if role := reach.managers[to].Status().Role; role != "primary" {
		t.Errorf("%s reports %s after the switchover", to, role)
	}
	pc := redis.NewClient(&redis.Options{Addr: reach.hosts[to], Password: password})
	defer pc.Close()
	lost, err := rep.Lost(ctx, pc)
	if err != nil {
		t.Fatal(err)
	}
	if len(lost) > 0 {
		t.Fatalf("%d acknowledged writes lost in the switchover, first %s", len(lost), lost[0])
	}
	redistest.WaitFor(t, 30*time.Second, "a Switchover event", func(ctx context.Context) error {
		var evs eventsv1.EventList
		if err := k8sClient.List(ctx, &evs, client.InNamespace(ns)); err != nil {
			return err
		}
		for _, e := range evs.Items {
			if e.Reason == haredisv1.EventSwitchover && strings.Contains(e.Note, from) && strings.Contains(e.Note, to) {
				return nil
			}
		}
		return fmt.Errorf("no Switchover event from %s to %s", from, to)
	})
	redistest.WaitFor(t, 60*time.Second, "the old primary back as a replica and Ready", func(ctx context.Context) error {
		rf, err := getRF(ctx, ns, "app")
		if err != nil {
			return err
		}
		if !meta.IsStatusConditionTrue(rf.Status.Conditions, haredisv1.ConditionReady) {
			return fmt.Errorf("not Ready: %+v", meta.FindStatusCondition(rf.Status.Conditions, haredisv1.ConditionReady))
		}
		for _, is := range rf.Status.Instances {
			if is.Name == from && (is.Role != haredisv1.RoleReplica || !is.Ready) {
				return fmt.Errorf("old primary %+v", is)
			}
		}
		return nil
	})

	// A switchover left in progress by an operator that died after
	// Sentinel promoted the target is closed from the sentinels' answer.
	// The operator writes this status too, so a conflict is retried.
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		rf, err := getRF(ctx, ns, "app")
		if err != nil {
			return err
		}
		rf.Status.LastSwitchover = &haredisv1.SwitchoverStatus{From: from, To: to, Reason: haredisv1.SwitchoverRequested, Result: haredisv1.SwitchoverInProgress}
		return k8sClient.Status().Update(ctx, rf)
	}); err != nil {
		t.Fatal(err)
	}
	redistest.WaitFor(t, 30*time.Second, "the interrupted switchover closed", func(ctx context.Context) error {
		rf, err := getRF(ctx, ns, "app")
		if err != nil {
			return err
		}
		if ls := rf.Status.LastSwitchover; ls == nil || ls.Result != haredisv1.SwitchoverSucceeded || !strings.Contains(ls.Message, "interrupted") {
			return fmt.Errorf("lastSwitchover %+v", ls)
		}
		return nil
	})
}
