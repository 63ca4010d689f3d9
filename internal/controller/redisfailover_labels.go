package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/sentinel"
	"github.com/haredis/haredis/internal/specs"
)

// switchTrust is how long a +switch-master outranks the majority's answer
// when that answer has an older configuration epoch: the other sentinels
// learn the new configuration from the leader's hello messages (every
// second, sentinel.Tune) well within it. After it the majority alone
// decides again, whatever its epoch (sentinels that were re-created start
// from epoch 0).
const switchTrust = hintWindow

// switchSeen is a primary a sentinel announced with +switch-master, with the
// epoch of the configuration that elected it.
type switchSeen struct {
	primary string
	epoch   int64
	at      time.Time
}

// followSwitch moves the role labels as soon as a sentinel announces a new
// primary (+switch-master, confirmed by ROLE on it), without waiting for a
// reconcile worker and the reconcile's whole chain: on a busy operator that
// wait is seconds, and NAME-primary routes to a dead or demoted instance
// meanwhile. It runs on a goroutine of the RedisFailover's Sentinel
// watcher. The announcement counts only with the configuration epoch the
// announcing sentinel gives for it, and only while no newer one is known;
// the reconcile that the same event triggers records the failover in the
// status.
func (r *RedisFailoverReconciler) followSwitch(key types.NamespacedName, e sentinel.Event, cfg sentinel.Config) {
	started := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	logger := ctrl.Log.WithName("role-labels").WithValues("redisfailover", key.String())
	ctx = log.IntoContext(ctx, logger)
	rf := &haredisv1.RedisFailover{}
	if err := r.Get(ctx, key, rf); err != nil || !rf.DeletionTimestamp.IsZero() {
		return
	}
	name := r.instanceAtAddr(rf, e.New)
	if name == "" {
		logger.Info("a sentinel announced an address that is none of the instances; ignored", "address", e.New, "sentinel", e.Sentinel)
		return
	}
	m, ok := announced(ctx, e, cfg)
	askedAt := time.Now()
	if !ok {
		// The sentinel moved on (or cannot be asked): the reconcile reads
		// what the majority says.
		return
	}
	if !r.recordSwitch(rf, switchSeen{primary: name, epoch: m.ConfigEpoch, at: time.Now()}) {
		return
	}
	pods, err := r.instancePods(ctx, rf)
	if err != nil {
		logger.Info("cannot list the instance pods to move the role labels", "error", err.Error())
		return
	}
	unlock := r.lockLabels(rf)
	defer unlock()
	if cur := r.newerSwitch(rf, m.ConfigEpoch-1); cur != name {
		// A newer announcement came in meanwhile; its own call moves the
		// labels.
		return
	}
	if err := r.moveRoleLabels(ctx, pods, name); err != nil {
		logger.Info("cannot move the role labels after +switch-master; the reconcile tries again", "error", err.Error())
		return
	}
	// Where the time went, from the watcher hearing of the primary: ROLE's
	// confirmation with the sentinel's configuration asked beside it, the
	// sentinel asked again when that was missing, the label move (the
	// API server's part).
	logger.Info("role labels follow the sentinels' new primary", "primary", name, "configEpoch", m.ConfigEpoch, "sentinel", e.Sentinel,
		"confirmMs", started.Sub(e.Heard).Milliseconds(), "askMs", askedAt.Sub(started).Milliseconds(),
		"moveMs", time.Since(askedAt).Milliseconds(), "totalMs", time.Since(e.Heard).Milliseconds(),
		"heardAt", e.Heard.UTC().Format(time.RFC3339Nano))
}

// announced is the configuration of the sentinel that announced e.New
// that names it: the answer that came with the event (sentinel.ListenSwitches
// asks as it hears the switch), or the sentinel asked again. The watcher
// may announce a primary from +failover-end, when GET-MASTER-ADDR-BY-NAME
// gives the promoted replica but SENTINEL MASTER still the old address
// (the sentinel switches its configuration at its next timer tick,
// +switch-master): ask for up to two seconds.
func announced(ctx context.Context, e sentinel.Event, cfg sentinel.Config) (sentinel.Master, bool) {
	if m := e.Master; m != nil && m.Addr == e.New && !m.InFailover {
		return *m, true
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		m := sentinel.AskOne(ctx, e.Sentinel, sentinel.Access{Password: cfg.SentinelPassword, TLS: cfg.TLS}, cfg.MasterName)
		if m.Addr == e.New && !m.InFailover {
			return m, true
		}
		if time.Now().After(deadline) || (m.Addr != e.New && !m.InFailover && m.Addr != "" && m.Addr != e.Old) {
			return m, false
		}
		select {
		case <-ctx.Done():
			return m, false
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// recordSwitch keeps s unless a newer configuration was seen less than
// switchTrust ago; it says whether s was kept.
func (r *RedisFailoverReconciler) recordSwitch(rf *haredisv1.RedisFailover, s switchSeen) bool {
	for {
		v, loaded := r.switches.LoadOrStore(rf.UID, s)
		if !loaded {
			return true
		}
		// A newer configuration outranks s while it is trusted; after
		// that the kept one is history (sentinels created again start
		// from epoch 0 and would otherwise never be followed again).
		if prev := v.(switchSeen); prev.epoch > s.epoch && time.Since(prev.at) < switchTrust {
			return false
		}
		if r.switches.CompareAndSwap(rf.UID, v, s) {
			return true
		}
	}
}

// newerSwitch is the primary of a +switch-master seen less than
// switchTrust ago whose configuration is newer than epoch, "" when there
// is none.
func (r *RedisFailoverReconciler) newerSwitch(rf *haredisv1.RedisFailover, epoch int64) string {
	v, ok := r.switches.Load(rf.UID)
	if !ok {
		return ""
	}
	s := v.(switchSeen)
	if s.epoch > epoch && time.Since(s.at) < switchTrust {
		return s.primary
	}
	return ""
}

// electedPrimary is the primary the sentinels elected: the one a majority
// of them names, or the one a +switch-master announced with a newer
// configuration that the majority has not learnt yet. "" when neither
// says.
func (r *RedisFailoverReconciler) electedPrimary(rf *haredisv1.RedisFailover, view sentinelView) string {
	if p := r.newerSwitch(rf, view.epoch); p != "" {
		return p
	}
	return view.primary
}

// lockLabels orders the moves of rf's role labels: a reconcile that read
// the sentinels before a +switch-master must not move them back after
// followSwitch moved them.
func (r *RedisFailoverReconciler) lockLabels(rf *haredisv1.RedisFailover) (unlock func()) {
	v, _ := r.labelLocks.LoadOrStore(rf.UID, &sync.Mutex{})
	mu := v.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// forgetLabels drops what followSwitch kept for a RedisFailover that is
// gone.
func (r *RedisFailoverReconciler) forgetLabels(uid types.UID) {
	r.switches.Delete(uid)
	r.labelLocks.Delete(uid)
}

// reconcileRoleLabels moves haredis.dev/role so that NAME-primary selects
// status.currentPrimary and NAME-replicas the others, or the primary of a
// +switch-master newer than what this reconcile read from the sentinels.
func (r *RedisFailoverReconciler) reconcileRoleLabels(ctx context.Context, rf *haredisv1.RedisFailover, st *state) error {
	unlock := r.lockLabels(rf)
	defer unlock()
	primary := rf.Status.CurrentPrimary
	if p := r.newerSwitch(rf, st.view.epoch); p != "" {
		primary = p
	}
	pods := make([]*corev1.Pod, 0, len(st.instances))
	for _, n := range st.instances {
		if p := st.pods[n]; p != nil {
			pods = append(pods, p)
		}
	}
	return r.moveRoleLabels(ctx, pods, primary)
}

// moveRoleLabels labels primary's pod primary and the other pods replica.
// The patches go out together: NAME-primary follows only once both the
// new primary and the old one are relabelled, and on a loaded API server
// each patch takes a while.
func (r *RedisFailoverReconciler) moveRoleLabels(ctx context.Context, pods []*corev1.Pod, primary string) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, p := range pods {
		if p.UID == "" || p.DeletionTimestamp != nil {
			continue
		}
		want := string(haredisv1.RoleReplica)
		if p.Name == primary {
			want = string(haredisv1.RolePrimary)
		}
		if p.Labels[haredisv1.LabelRole] == want {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.setRoleLabel(ctx, p, want); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// setRoleLabel patches pod's role label to role; a pod gone meanwhile is
// no error.
func (r *RedisFailoverReconciler) setRoleLabel(ctx context.Context, p *corev1.Pod, role string) error {
	patch := client.MergeFrom(p.DeepCopy())
	if p.Labels == nil {
		p.Labels = map[string]string{}
	}
	p.Labels[haredisv1.LabelRole] = role
	if err := r.Patch(ctx, p, patch); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("cannot set role label of %s: %w", p.Name, err)
	}
	log.FromContext(ctx).Info("moved role label", "pod", p.Name, "role", role)
	return nil
}

// instancePods are rf's instance pods as the cache has them.
func (r *RedisFailoverReconciler) instancePods(ctx context.Context, rf *haredisv1.RedisFailover) ([]*corev1.Pod, error) {
	var list corev1.PodList
	if err := r.List(ctx, &list, client.InNamespace(rf.Namespace), client.MatchingLabels(specs.Selector(rf, specs.ComponentRedis))); err != nil {
		return nil, fmt.Errorf("cannot list pods: %w", err)
	}
	var out []*corev1.Pod
	for i := range list.Items {
		if serialOf(rf, list.Items[i].Name) != 0 {
			out = append(out, &list.Items[i])
		}
	}
	return out, nil
}
