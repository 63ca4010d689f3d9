package chaos

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/acl"
	"github.com/haredis/haredis/internal/instanceapi"
	"github.com/haredis/haredis/internal/specs"
	"github.com/haredis/haredis/test/operatorbed"
)

// boundOf is the recovery bound of a step, from its start.
func boundOf(s Step) time.Duration {
	switch s.Kind {
	case Partition:
		return BoundUnplanned + s.Hold
	case Double:
		return max(boundOf(*s.First), boundOf(*s.Second)) + s.Delay
	case DeleteAll, Recreate:
		return BoundFullRestart
	case Switchover, Scale, Config, Durability, DeleteAuthSecret:
		return BoundPlanned
	case DeletePod:
		if s.Planned() {
			return BoundPlanned
		}
		return BoundUnplanned
	case Persistence, Rolling:
		return BoundRolling
	case OperatorDownSwitchover:
		return BoundPlanned + s.Delay + s.Hold + operatorSlack
	case OperatorDownRolling:
		return BoundRolling + s.Delay + s.Hold + operatorSlack
	}
	return BoundUnplanned
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// execute carries out a step: it injects the faults or asks for the
// operation, and registers what settling means for it.
func (r *runner) execute(ctx context.Context, st *stepRun, s Step) error {
	st.bound = boundOf(s)
	rf, err := r.getRF(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if rf.Spec.Redis.Persistence == haredisv1.PersistenceRDB && len(st.killed) >= int(rf.Spec.Redis.Replicas) {
			st.noOldCheck = true
			st.note("every instance lost its memory with RDB persistence: losses are bounded by the snapshot period and not checked against the replication window")
		}
	}()
	switch s.Kind {
	case KillRedis, KillManager, KillSentinel, DeletePod, Partition:
		h, err := r.inject(ctx, st, s)
		if err != nil {
			return err
		}
		return r.heal(ctx, st, h)
	case Double:
		a, err := r.inject(ctx, st, *s.First)
		if err != nil {
			return err
		}
		if err := sleepCtx(ctx, s.Delay); err != nil {
			return err
		}
		b, err := r.inject(ctx, st, *s.Second)
		if err != nil {
			return err
		}
		return r.heal(ctx, st, a, b)
	case DeleteAll:
		return r.deleteAll(ctx, st, rf, s.Mode)
	case Recreate:
		return r.recreate(ctx, st, rf)
	case Switchover, OperatorDownSwitchover:
		return r.switchover(ctx, st, rf, s)
	case Scale:
		if rf.Spec.Redis.Replicas != s.From {
			st.note("the spec has %d instances, not %d as planned", rf.Spec.Redis.Replicas, s.From)
		}
		if err := r.patchSpec(ctx, func(rf *haredisv1.RedisFailover) {
			rf.Spec.Redis.Replicas = s.To
			if s.SetDurability {
				setDurability(rf, s)
			}
		}); err != nil {
			return err
		}
		st.done = append(st.done, fmt.Sprintf("spec.redis.replicas %d", s.To))
		return nil
	case Config:
		return r.config(ctx, st, s)
	case Durability:
		if err := r.patchSpec(ctx, func(rf *haredisv1.RedisFailover) { setDurability(rf, s) }); err != nil {
			return err
		}
		st.done = append(st.done, "spec.durability "+durabilityString(s.MinReplicasToWrite, s.MaxLag))
		st.wait("durability in force on every instance", func(ctx context.Context, rf *haredisv1.RedisFailover) error {
			m, l := rf.EffectiveDurability()
			if err := r.onEveryInstance(ctx, rf, "min-replicas-to-write", strconv.Itoa(int(m))); err != nil {
				return err
			}
			return r.onEveryInstance(ctx, rf, "min-replicas-max-lag", strconv.Itoa(int(l.Seconds())))
		})
		return nil
	case Persistence:
		if err := r.patchSpec(ctx, func(rf *haredisv1.RedisFailover) {
			rf.Spec.Redis.Persistence = haredisv1.PersistenceMode(s.Persistence)
		}); err != nil {
			return err
		}
		st.done = append(st.done, "spec.redis.persistence "+s.Persistence)
		want := "no"
		if s.Persistence == string(haredisv1.PersistenceAOF) {
			want = "yes"
		}
		st.wait("appendonly "+want+" on every instance", func(ctx context.Context, rf *haredisv1.RedisFailover) error {
			if rf.Status.UpdatedInstances != rf.Spec.Redis.Replicas {
				return fmt.Errorf("%d instances updated", rf.Status.UpdatedInstances)
			}
			return r.onEveryInstance(ctx, rf, "appendonly", want)
		})
		return nil
	case Rolling, OperatorDownRolling:
		return r.rolling(ctx, st, s)
	case DeleteAuthSecret:
		return r.deleteAuthSecret(ctx, st, rf)
	}
	return fmt.Errorf("unknown step kind %q", s.Kind)
}

func setDurability(rf *haredisv1.RedisFailover, s Step) {
	rf.Spec.Durability.MinReplicasToWrite = s.MinReplicasToWrite
	rf.Spec.Durability.MaxLag = nil
	if s.MaxLag != nil {
		rf.Spec.Durability.MaxLag = &metav1.Duration{Duration: *s.MaxLag}
	}
}

// patchSpec updates the RedisFailover's spec, retrying on conflicts.
func (r *runner) patchSpec(ctx context.Context, mutate func(*haredisv1.RedisFailover)) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		rf, err := r.getRF(ctx)
		if err == nil {
			mutate(rf)
			if err = r.kc.Update(ctx, rf); err == nil {
				return nil
			}
		}
		if !apierrors.IsConflict(err) {
			return fmt.Errorf("cannot update the RedisFailover: %w", err)
		}
		if err := sleepCtx(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
}

// resolve names the pod a target means now: status.currentPrimary, the
// index-th replica or sentinel in name order.
func (r *runner) resolve(ctx context.Context, target string, index int) (name string, primary bool, err error) {
	rf, err := r.getRF(ctx)
	if err != nil {
		return "", false, err
	}
	var names []string
	switch target {
	case TargetPrimary:
		if rf.Status.CurrentPrimary == "" {
			return "", false, errors.New("status.currentPrimary is empty")
		}
		return rf.Status.CurrentPrimary, true, nil
	case TargetReplica:
		for _, is := range rf.Status.Instances {
			if is.Name != rf.Status.CurrentPrimary {
				names = append(names, is.Name)
			}
		}
	case TargetSentinel:
		pods, err := r.pods(ctx, specs.ComponentSentinel)
		if err != nil {
			return "", false, err
		}
		for _, p := range pods {
			names = append(names, p.Name)
		}
	}
	if len(names) == 0 {
		return "", false, fmt.Errorf("no %s to pick", target)
	}
	sort.Strings(names)
	return names[index%len(names)], false, nil
}

// pods lists the RedisFailover's pods of a component that are not being
// deleted, in name order.
func (r *runner) pods(ctx context.Context, component string) ([]corev1.Pod, error) {
	var list corev1.PodList
	labels := client.MatchingLabels{specs.LabelInstance: r.name, specs.LabelComponent: component}
	if component == specs.ComponentSentinel && r.pool != "" {
		// On a pool: its sentinels are the RedisFailover's.
		labels = client.MatchingLabels{haredisv1.LabelSentinelPool: r.pool, specs.LabelComponent: specs.ComponentPoolSentinel}
	}
	if err := r.kc.List(ctx, &list, client.InNamespace(r.ns), labels); err != nil {
		return nil, err
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (r *runner) pod(ctx context.Context, name string) (*corev1.Pod, error) {
	p := &corev1.Pod{}
	return p, r.kc.Get(ctx, client.ObjectKey{Namespace: r.ns, Name: name}, p)
}

func (r *runner) instanceStatus(ctx context.Context, p *corev1.Pod) (*instanceapi.Status, error) {
	if p.Status.PodIP == "" {
		return nil, fmt.Errorf("pod %s has no IP", p.Name)
	}
	c, err := r.env.InstanceClient(ctx, r.ns, r.name, p.Status.PodIP)
	if err != nil {
		return nil, err
	}
	return c.Status(ctx)
}

func restartsOf(p *corev1.Pod, container string) int32 {
	for _, c := range p.Status.ContainerStatuses {
		if c.Name == container {
			return c.RestartCount
		}
	}
	return 0
}

// healer ends a fault (a partition) at a time.
type healer struct {
	at   time.Time
	what string
	fn   func(context.Context) error
}

// heal waits for each healer's time and heals.
func (r *runner) heal(ctx context.Context, st *stepRun, hs ...*healer) error {
	var list []*healer
	for _, h := range hs {
		if h != nil {
			list = append(list, h)
		}
	}
	sort.Slice(list, func(i, j int) bool { return list[i].at.Before(list[j].at) })
	for _, h := range list {
		if err := sleepCtx(ctx, time.Until(h.at)); err != nil {
			return err
		}
		if err := h.fn(ctx); err != nil {
			st.note("healing %s: %v", h.what, err)
		}
		st.done = append(st.done, "healed "+h.what)
	}
	return nil
}

// inject carries out one fault of a single pod.
func (r *runner) inject(ctx context.Context, st *stepRun, s Step) (*healer, error) {
	switch s.Kind {
	case KillRedis:
		name, isPrimary, err := r.resolve(ctx, s.Target, s.Index)
		if err != nil {
			return nil, err
		}
		p, err := r.pod(ctx, name)
		if err != nil {
			return nil, err
		}
		// The manager's GET /status names redis-server's PID; when the
		// manager cannot be reached (its pod is cut off), /proc does.
		pid, how := 0, ""
		if is, err := r.instanceStatus(ctx, p); err == nil {
			pid, how = is.RedisPID, is.Role
			if pid == 0 {
				st.done = append(st.done, fmt.Sprintf("no redis-server to kill in %s (phase %s)", name, is.Phase))
				return nil, nil
			}
		} else if pid, err = r.serverPID(ctx, name); err != nil {
			return nil, fmt.Errorf("cannot find the server of %s: %w", name, err)
		} else {
			how = "found in /proc: its manager does not answer"
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			return nil, fmt.Errorf("cannot kill redis-server %d of %s: %w", pid, name, err)
		}
		st.fault(time.Now(), isPrimary, fmt.Sprintf("SIGKILL redis-server of %s (pid %d, %s)", name, pid, how))
		st.killed[name] = true
		st.wait(name+"'s redis-server back", func(ctx context.Context, _ *haredisv1.RedisFailover) error {
			p, err := r.pod(ctx, name)
			if err != nil {
				return err
			}
			s, err := r.instanceStatus(ctx, p)
			if err != nil {
				return err
			}
			if s.RedisPID == pid {
				return fmt.Errorf("still pid %d", pid)
			}
			if !s.Ready {
				return fmt.Errorf("phase %s, role %s, not ready: %s", s.Phase, s.Role, s.ReadyReason)
			}
			return nil
		})
		return nil, nil
	case KillManager, KillSentinel:
		target, index, container := s.Target, s.Index, "redis"
		if s.Kind == KillSentinel {
			target, container = TargetSentinel, "sentinel"
		}
		name, isPrimary, err := r.resolve(ctx, target, index)
		if err != nil {
			return nil, err
		}
		p, err := r.pod(ctx, name)
		if err != nil {
			return nil, err
		}
		uid, restarts := p.UID, restartsOf(p, container)
		pid, err := r.inj.KillContainer(ctx, r.ns, name, container)
		if err != nil {
			return nil, err
		}
		what := "instance manager"
		if s.Kind == KillSentinel {
			what = "sentinel"
		} else {
			st.killed[name] = true
		}
		st.fault(time.Now(), isPrimary, fmt.Sprintf("SIGKILL %s of %s (pid %d)", what, name, pid))
		st.wait(name+" restarted", func(ctx context.Context, _ *haredisv1.RedisFailover) error {
			p, err := r.pod(ctx, name)
			if err != nil {
				return err
			}
			if p.UID == uid && restartsOf(p, container) <= restarts {
				return errors.New("container not restarted yet")
			}
			if !podReady(p) {
				return errors.New("not ready" + r.whyNotReady(ctx, p))
			}
			return nil
		})
		return nil, nil
	case DeletePod:
		name, isPrimary, err := r.resolve(ctx, s.Target, s.Index)
		if err != nil {
			return nil, err
		}
		p, err := r.pod(ctx, name)
		if apierrors.IsNotFound(err) {
			// The fault is in effect already: the step before (the first
			// of a double) deleted it, and it is not created again yet.
			st.note("pod %s was already gone, not created again yet since the fault before: nothing to delete", name)
			st.wait(name+" created again", func(ctx context.Context, _ *haredisv1.RedisFailover) error {
				p, err := r.pod(ctx, name)
				if err != nil {
					return err
				}
				if !podReady(p) {
					return errors.New("not ready" + r.whyNotReady(ctx, p))
				}
				return nil
			})
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		uid := p.UID
		opts := []client.DeleteOption{client.Preconditions{UID: &uid}}
		if s.Mode == ModeForced {
			opts = append(opts, client.GracePeriodSeconds(0))
		}
		if err := r.kc.Delete(ctx, p, opts...); err != nil && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("cannot delete pod %s: %w", name, err)
		}
		st.fault(time.Now(), isPrimary, fmt.Sprintf("deleted pod %s (%s)", name, s.Mode))
		if s.Mode == ModeForced && s.Target != TargetSentinel {
			st.killed[name] = true
		}
		st.wait(name+" replaced", func(ctx context.Context, _ *haredisv1.RedisFailover) error {
			p, err := r.pod(ctx, name)
			if err != nil {
				return err
			}
			if p.UID == uid {
				return errors.New("still the old pod")
			}
			if !podReady(p) {
				return errors.New("not ready" + r.whyNotReady(ctx, p))
			}
			return nil
		})
		return nil, nil
	case Partition:
		name, isPrimary, err := r.resolve(ctx, TargetPrimary, 0)
		if err != nil {
			return nil, err
		}
		restore, err := r.inj.CutOff(ctx, r.ns, name)
		if err != nil {
			return nil, err
		}
		at := time.Now()
		st.fault(at, isPrimary, fmt.Sprintf("cut off %s", name))
		healed := false
		fn := func(ctx context.Context) error {
			if healed {
				return nil
			}
			healed = true
			return restore(ctx)
		}
		r.heals = append(r.heals, fn)
		st.wait(name+" back after the partition", func(ctx context.Context, _ *haredisv1.RedisFailover) error {
			p, err := r.pod(ctx, name)
			if err != nil {
				return err
			}
			s, err := r.instanceStatus(ctx, p)
			if err != nil {
				return err
			}
			if !s.Ready {
				return fmt.Errorf("phase %s, role %s, not ready: %s", s.Phase, s.Role, s.ReadyReason)
			}
			return nil
		})
		return &healer{at: at.Add(s.Hold), what: fmt.Sprintf("%s after %s", name, s.Hold), fn: fn}, nil
	}
	return nil, fmt.Errorf("%s is not a single fault", s.Kind)
}

// deleteAll deletes every pod of the RedisFailover at once.
func (r *runner) deleteAll(ctx context.Context, st *stepRun, rf *haredisv1.RedisFailover, mode string) error {
	var list corev1.PodList
	if err := r.kc.List(ctx, &list, client.InNamespace(r.ns), client.MatchingLabels{specs.LabelInstance: r.name}); err != nil {
		return err
	}
	old := map[types.UID]bool{}
	for _, p := range list.Items {
		old[p.UID] = true
	}
	opts := []client.DeleteAllOfOption{client.InNamespace(r.ns), client.MatchingLabels{specs.LabelInstance: r.name}}
	if mode == ModeForced {
		opts = append(opts, client.GracePeriodSeconds(0))
	}
	if err := r.kc.DeleteAllOf(ctx, &corev1.Pod{}, opts...); err != nil {
		return fmt.Errorf("cannot delete the pods: %w", err)
	}
	at := time.Now()
	st.fault(at, true, fmt.Sprintf("deleted all %d pods (%s)", len(list.Items), mode))
	if mode == ModeForced {
		for _, p := range list.Items {
			if p.Labels[specs.LabelComponent] == specs.ComponentRedis {
				st.killed[p.Name] = true
			}
		}
		if rf.Spec.Redis.Persistence == haredisv1.PersistenceAOF && at.Add(-aofWindow).Before(st.lossFrom) {
			st.lossFrom = at.Add(-aofWindow)
		}
	}
	st.wait("every pod replaced", func(ctx context.Context, _ *haredisv1.RedisFailover) error {
		var list corev1.PodList
		if err := r.kc.List(ctx, &list, client.InNamespace(r.ns), client.MatchingLabels{specs.LabelInstance: r.name}); err != nil {
			return err
		}
		for _, p := range list.Items {
			if old[p.UID] {
				return fmt.Errorf("pod %s not replaced yet", p.Name)
			}
		}
		return nil
	})
	return nil
}

// recreate deletes the RedisFailover, waits for it and its pods to go, and
// creates it again with the same spec; the volumes are kept (the default).
func (r *runner) recreate(ctx context.Context, st *stepRun, rf *haredisv1.RedisFailover) error {
	spec := rf.Spec.DeepCopy()
	oldUID := rf.UID
	if err := r.kc.Delete(ctx, rf, client.Preconditions{UID: &oldUID}); err != nil {
		return fmt.Errorf("cannot delete the RedisFailover: %w", err)
	}
	at := time.Now()
	st.fault(at, true, "deleted the RedisFailover")
	gone := window{from: at, why: "RedisFailover deleted"}
	wctx, cancel := context.WithDeadline(ctx, st.start.Add(st.bound))
	defer cancel()
	for {
		_, err := r.getRF(wctx)
		var list corev1.PodList
		lerr := r.kc.List(wctx, &list, client.InNamespace(r.ns), client.MatchingLabels{specs.LabelInstance: r.name})
		if apierrors.IsNotFound(err) && lerr == nil && len(list.Items) == 0 {
			break
		}
		if e := sleepCtx(wctx, 500*time.Millisecond); e != nil {
			return fmt.Errorf("the deleted RedisFailover or its pods did not go (%d pods left, get: %v)", len(list.Items), err)
		}
	}
	st.done = append(st.done, fmt.Sprintf("old RedisFailover and pods gone after %.1fs", time.Since(at).Seconds()))
	nrf := &haredisv1.RedisFailover{ObjectMeta: metav1.ObjectMeta{Namespace: r.ns, Name: r.name}, Spec: *spec}
	if err := r.kc.Create(ctx, nrf); err != nil {
		return fmt.Errorf("cannot create the RedisFailover again: %w", err)
	}
	st.done = append(st.done, "created it again")
	repointed := false
	st.wait("the new RedisFailover", func(ctx context.Context, rf *haredisv1.RedisFailover) error {
		if rf.UID == oldUID {
			return errors.New("still the old RedisFailover")
		}
		if repointed {
			return nil
		}
		if err := r.readIdentity(ctx, rf); err != nil {
			return err
		}
		r.sw.swap(r.sentinelClient())
		r.uw.swap(r.urlClient())
		repointed = true
		gone.to = time.Now().Add(readyLead)
		r.excused = append(r.excused, gone)
		st.done = append(st.done, "writers moved to master name "+r.masterName)
		return nil
	})
	return nil
}

// switchover asks for a switchover to a replica as `kubectl haredis
// promote` does; OperatorDownSwitchover stops the operator while it runs.
func (r *runner) switchover(ctx context.Context, st *stepRun, rf *haredisv1.RedisFailover, s Step) error {
	target, _, err := r.resolve(ctx, TargetReplica, s.Index)
	if err != nil {
		return err
	}
	from := rf.Status.CurrentPrimary
	requested := time.Now().Add(-time.Second)
	patch := client.MergeFrom(rf.DeepCopy())
	rf.Status.TargetPrimary = target
	if err := r.kc.Status().Patch(ctx, rf, patch); err != nil {
		return fmt.Errorf("cannot ask for the switchover: %w", err)
	}
	st.done = append(st.done, fmt.Sprintf("asked for %s -> %s", from, target))
	if s.Kind == OperatorDownSwitchover {
		if err := r.operatorDown(ctx, st, s); err != nil {
			return err
		}
	}
	noted := false
	st.wait("the switchover to "+target+" ended", func(_ context.Context, rf *haredisv1.RedisFailover) error {
		ls := rf.Status.LastSwitchover
		if ls == nil || ls.To != target || ls.EndTime == nil || ls.EndTime.Time.Before(requested) {
			return fmt.Errorf("lastSwitchover %s", describeSwitchover(ls))
		}
		if !noted {
			noted = true
			st.note("switchover %s -> %s: %s, writes held %d ms: %s", ls.From, ls.To, ls.Result, ls.WritesHeldMilliseconds, ls.Message)
		}
		return nil
	})
	return nil
}

func describeSwitchover(ls *haredisv1.SwitchoverStatus) string {
	if ls == nil {
		return "none"
	}
	return fmt.Sprintf("%s -> %s %s (%s) %s", ls.From, ls.To, ls.Result, ls.Reason, ls.Message)
}

// operatorDown stops the operator s.Delay from now and starts it again
// after s.Hold (scale0), or SIGKILLs it and lets its kubelet restart it
// (kill).
func (r *runner) operatorDown(ctx context.Context, st *stepRun, s Step) error {
	if err := sleepCtx(ctx, s.Delay); err != nil {
		return err
	}
	at := time.Now()
	switch s.Mode {
	case ModeScaleZero:
		r.opStopped = true
		if err := r.env.ScaleOperator(ctx, 0); err != nil {
			return err
		}
		st.done = append(st.done, fmt.Sprintf("operator scaled to 0 (its pods gone after %.1fs)", time.Since(at).Seconds()))
		if err := sleepCtx(ctx, time.Until(at.Add(s.Hold))); err != nil {
			return err
		}
		if err := r.env.ScaleOperator(ctx, 1); err != nil {
			return err
		}
		r.opStopped = false
		st.done = append(st.done, fmt.Sprintf("operator back after %.1fs", time.Since(at).Seconds()))
	case ModeKill:
		pods, err := r.env.OperatorPods(ctx)
		if err != nil {
			return err
		}
		restarts := map[string]int32{}
		for _, p := range pods {
			restarts[p.Name] = restartsOf(&p, operatorbed.OperatorContainer)
			if err := r.inj.KillOperatorPod(ctx, operatorbed.OperatorNamespace, p.Name, operatorbed.OperatorContainer); err != nil {
				return err
			}
			st.done = append(st.done, "SIGKILL operator "+p.Name)
		}
		wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		defer cancel()
		for {
			pods, err := r.env.OperatorPods(wctx)
			back := 0
			for _, p := range pods {
				if podReady(&p) && (restartsOf(&p, operatorbed.OperatorContainer) > restarts[p.Name]) {
					back++
				}
			}
			if err == nil && back > 0 {
				break
			}
			if err := sleepCtx(wctx, 200*time.Millisecond); err != nil {
				return errors.New("the killed operator did not come back within 3 minutes")
			}
		}
		st.done = append(st.done, fmt.Sprintf("operator back after %.1fs", time.Since(at).Seconds()))
	}
	r.excused = append(r.excused, window{from: at, to: time.Now().Add(operatorSlack), why: "operator stopped"})
	return nil
}

// config sets the parameter group and waits until every instance runs it.
func (r *runner) config(ctx context.Context, st *stepRun, s Step) error {
	if err := r.patchSpec(ctx, func(rf *haredisv1.RedisFailover) {
		rf.Spec.Redis.Config = nil
		for k, v := range s.Config {
			if rf.Spec.Redis.Config == nil {
				rf.Spec.Redis.Config = map[string]haredisv1.ConfigValue{}
			}
			rf.Spec.Redis.Config[k] = haredisv1.ConfigValue(v)
		}
	}); err != nil {
		return err
	}
	st.done = append(st.done, "spec.redis.config "+configString(s.Config))
	defaults := map[string]string{"hz": "10", "maxmemory-policy": "noeviction", "notify-keyspace-events": ""}
	st.wait("the parameter group in force on every instance", func(ctx context.Context, rf *haredisv1.RedisFailover) error {
		if c := meta.FindStatusCondition(rf.Status.Conditions, haredisv1.ConditionConfigApplied); c == nil || c.Status != metav1.ConditionTrue || c.ObservedGeneration != rf.Generation {
			return fmt.Errorf("ConfigApplied %v", c)
		}
		for k, def := range defaults {
			want, ok := s.Config[k]
			if !ok {
				want = def
			}
			if err := r.onEveryInstance(ctx, rf, k, want); err != nil {
				return err
			}
		}
		return nil
	})
	return nil
}

// rolling changes the Redis containers' CPU request, which replaces every
// instance; OperatorDownRolling stops the operator in the middle.
func (r *runner) rolling(ctx context.Context, st *stepRun, s Step) error {
	if err := r.patchSpec(ctx, func(rf *haredisv1.RedisFailover) {
		rf.Spec.Redis.Resources = corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(s.CPU)}}
	}); err != nil {
		return err
	}
	st.done = append(st.done, "spec.redis.resources cpu "+s.CPU)
	if s.Kind == OperatorDownRolling {
		if err := r.operatorDown(ctx, st, s); err != nil {
			return err
		}
	}
	want := resource.MustParse(s.CPU)
	st.wait("every instance replaced with cpu "+s.CPU, func(ctx context.Context, rf *haredisv1.RedisFailover) error {
		if rf.Status.UpdatedInstances != rf.Spec.Redis.Replicas {
			return fmt.Errorf("%d of %d instances updated", rf.Status.UpdatedInstances, rf.Spec.Redis.Replicas)
		}
		pods, err := r.pods(ctx, specs.ComponentRedis)
		if err != nil {
			return err
		}
		for _, p := range pods {
			for _, c := range p.Spec.Containers {
				if c.Name == "redis" && c.Resources.Requests.Cpu().Cmp(want) != 0 {
					return fmt.Errorf("pod %s requests %s", p.Name, c.Resources.Requests.Cpu())
				}
			}
		}
		return nil
	})
	return nil
}

// deleteAuthSecret deletes NAME-auth; the operator must put it back with
// the password in force.
func (r *runner) deleteAuthSecret(ctx context.Context, st *stepRun, rf *haredisv1.RedisFailover) error {
	s := &corev1.Secret{}
	if err := r.kc.Get(ctx, client.ObjectKey{Namespace: r.ns, Name: rf.AuthSecretName()}, s); err != nil {
		return err
	}
	pw := string(s.Data[specs.PasswordKey])
	if err := r.kc.Delete(ctx, s); err != nil {
		return err
	}
	st.done = append(st.done, "deleted Secret "+s.Name)
	reported := false
	st.wait("Secret "+s.Name+" back with the password in force", func(ctx context.Context, rf *haredisv1.RedisFailover) error {
		got := &corev1.Secret{}
		if err := r.kc.Get(ctx, client.ObjectKey{Namespace: r.ns, Name: rf.AuthSecretName()}, got); err != nil {
			return err
		}
		if string(got.Data[specs.PasswordKey]) != pw && !reported {
			reported = true
			st.note("Secret %s came back with another password", s.Name)
			r.res.Violations = append(r.res.Violations, fmt.Sprintf("step %d: Secret %s came back with another password than the one in force", st.idx, s.Name))
		}
		if !meta.IsStatusConditionTrue(rf.Status.Conditions, haredisv1.ConditionPasswordSecretInSync) {
			return fmt.Errorf("PasswordSecretInSync %v", meta.FindStatusCondition(rf.Status.Conditions, haredisv1.ConditionPasswordSecretInSync))
		}
		return nil
	})
	return nil
}

// onEveryInstance checks a parameter with CONFIG GET on every instance, as
// the admin user (the application user may not run CONFIG GET).
func (r *runner) onEveryInstance(ctx context.Context, rf *haredisv1.RedisFailover, param, want string) error {
	s := &corev1.Secret{}
	if err := r.kc.Get(ctx, client.ObjectKey{Namespace: r.ns, Name: specs.InternalSecretName(rf)}, s); err != nil {
		return fmt.Errorf("cannot read the admin user's password: %w", err)
	}
	for _, is := range rf.Status.Instances {
		p, err := r.pod(ctx, is.Name)
		if err != nil {
			return err
		}
		c := redis.NewClient(&redis.Options{Addr: net.JoinHostPort(p.Status.PodIP, "6379"), Username: acl.AdminUser,
			Password: string(s.Data[acl.AdminPasswordKey]), Dialer: r.env.Dial, DialTimeout: 2 * time.Second,
			ReadTimeout: 5 * time.Second, WriteTimeout: 2 * time.Second, MaxRetries: -1})
		v, err := c.ConfigGet(ctx, param).Result()
		c.Close()
		if err != nil {
			return fmt.Errorf("%s: CONFIG GET %s: %w", is.Name, param, err)
		}
		if v[param] != want {
			return fmt.Errorf("%s has %s %q, want %q", is.Name, param, v[param], want)
		}
	}
	return nil
}

// serverPID finds the server process of instance name in /proc, for when
// its manager cannot be reached: valkey-server or redis-server, whichever
// the image runs.
func (r *runner) serverPID(ctx context.Context, name string) (int, error) {
	var errs []error
	for _, comm := range []string{"valkey-server", "redis-server"} {
		pid, err := r.inj.ChildPID(ctx, r.ns, name, "redis", comm)
		if err == nil {
			return pid, nil
		}
		errs = append(errs, err)
	}
	return 0, errors.Join(errs...)
}
