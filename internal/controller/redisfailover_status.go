package controller

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/instanceapi"
	"github.com/haredis/haredis/internal/specs"
)

// readInstances asks every instance manager for its status and every
// proxy for its route. It only reads.
func (r *RedisFailoverReconciler) readInstances(ctx context.Context, rf *haredisv1.RedisFailover, st *state) (ctrl.Result, error) {
	st.statuses = r.instanceStatuses(ctx, rf, st)
	r.proxyRoutes(ctx, rf, st)
	return ctrl.Result{}, nil
}

// followPrimary records the primary the sentinels elected (an unplanned
// failover: Sentinel decides, the operator follows) and moves the role
// labels, so that NAME-primary selects it.
func (r *RedisFailoverReconciler) followPrimary(ctx context.Context, rf *haredisv1.RedisFailover, st *state) (ctrl.Result, error) {
	old := rf.Status.CurrentPrimary
	if p := r.electedPrimary(rf, st.view); p != "" && p != old {
		rf.Status.CurrentPrimary, rf.Status.TargetPrimary = p, p
		rf.Status.FailoverCount++
		now := metav1.Now()
		rf.Status.LastFailoverTime = &now
		log.FromContext(ctx).Info("primary changed by Sentinel", "old", old, "new", p)
		r.eventOn(rf, st.pods[p], corev1.EventTypeWarning, haredisv1.EventFailover, "Failover", "Sentinel failed over from %s to %s", old, p)
		failoversTotal.WithLabelValues(rf.Namespace, rf.Name).Inc()
	}
	return ctrl.Result{}, r.reconcileRoleLabels(ctx, rf, st)
}

// planRollingUpdate chooses the rolling update's next step (st.update)
// from what the pods run and what the instances and sentinels report;
// reportStatus shows it, rollingUpdate carries it out.
func (r *RedisFailoverReconciler) planRollingUpdate(_ context.Context, rf *haredisv1.RedisFailover, st *state) (ctrl.Result, error) {
	st.members = r.planUpdate(rf, st, specs.InstanceRevision(rf, r.Options))
	return ctrl.Result{}, nil
}

// reportStatus turns what this reconcile learnt into the status, its
// conditions and events, and writes it when something a user cares about
// changed (statusChanged).
func (r *RedisFailoverReconciler) reportStatus(ctx context.Context, rf *haredisv1.RedisFailover, st *state) (ctrl.Result, error) {
	before := st.statusBefore
	members := st.members
	r.followBootstrap(rf, st)
	rf.Status.Instances = nil
	var ready, updated int32
	var notReady []string
	for i, n := range st.instances {
		is := haredisv1.InstanceStatus{Name: n, Role: haredisv1.RoleUnknown, UpdatePending: members[i].hasPod && members[i].outdated()}
		if p := st.pods[n]; p != nil {
			is.PodIP = p.Status.PodIP
		}
		if s := st.statuses[n]; s != nil {
			is.Role = haredisv1.Role(s.Role)
			is.Ready = s.Ready
			is.ReplicationOffset = s.ReplicationOffset
			if s.Role == string(haredisv1.RoleReplica) {
				is.LagBytes = s.LagBytes
			}
			is.ConfigGeneration = s.Config.Generation
			is.PendingRestart = s.Config.RestartRequired
			if srv := serverOf(s); srv.Known() {
				is.Server = srv.String()
			}
		}
		why := ""
		if extra := extraPrimary(rf, n, st.statuses[n]); extra != "" {
			is.Ready, why = false, " ("+extra+")"
		}
		if p := st.pods[n]; is.Ready && p != nil && p.DeletionTimestamp != nil {
			is.Ready, why = false, " (its pod is being deleted)"
		}
		if pvc := st.pvcs[n]; pvc != nil {
			if c, ok := pvc.Status.Capacity[corev1.ResourceStorage]; ok {
				is.Storage = c.String()
				if s := st.statuses[n]; s != nil {
					is.StorageUsedPercent = volumeUsedPercent(c.Value(), s.Volume)
				}
			}
		}
		if is.Ready {
			ready++
		} else {
			notReady = append(notReady, n+why)
		}
		if st.pods[n] != nil && !is.UpdatePending {
			updated++
		}
		rf.Status.Instances = append(rf.Status.Instances, is)
	}
	rf.Status.ReadyInstances = ready
	rf.Status.ReadyProxies = st.readyProxies
	rf.Status.UpdatedInstances = updated
	rf.Status.UpdateRevision = specs.InstanceRevision(rf, r.Options)
	rf.Status.Endpoints = specs.Endpoints(rf)
	rf.Status.MasterName = rf.SentinelMasterName()
	rf.Status.SentinelViews = r.sentinelViews(rf, st)
	r.setConditions(rf, st, notReady)
	r.recordFence(rf, before)
	r.recordWaits(rf, st)
	r.recordRestores(rf, st)
	r.recordVolumes(rf, before)
	rf.Status.ObservedGeneration = rf.Generation
	exportStatus(rf, st.sentinelCount)

	if statusChanged(before, &rf.Status) {
		if err := r.Status().Update(ctx, rf); err != nil {
			return ctrl.Result{}, fmt.Errorf("cannot update status: %w", err)
		}
		log.FromContext(ctx).V(1).Info("status updated", "phase", rf.Status.Phase, "ready", ready, "primary", rf.Status.CurrentPrimary)
	}
	// Look closely while a failover may be under way, for a bounded time.
	fo := meta.FindStatusCondition(rf.Status.Conditions, haredisv1.ConditionFailingOver)
	recentFailover := fo != nil && fo.Status == metav1.ConditionTrue && time.Since(fo.LastTransitionTime.Time) < hintWindow
	if recentFailover || r.watchers.hintedRecently(types.NamespacedName{Namespace: rf.Namespace, Name: rf.Name}) {
		return ctrl.Result{RequeueAfter: fastRequeue}, nil
	}
	return ctrl.Result{}, nil
}

// statusChanged tells whether the status after differs from before in
// something a user cares about. Replication offsets move with every write
// and lag comes and goes under load: written at every reconcile they would
// make a status write every few seconds per RedisFailover for nothing
// anyone acts on. They are written with any other change, and a change of
// lag counts only when it crosses a lagClass boundary; the exact figures
// are in each instance's /metrics (haredis_instance_replication_offset_bytes,
// haredis_instance_replication_lag_bytes).
func statusChanged(before, after *haredisv1.RedisFailoverStatus) bool {
	coarse := func(s *haredisv1.RedisFailoverStatus) *haredisv1.RedisFailoverStatus {
		c := s.DeepCopy()
		for i := range c.Instances {
			c.Instances[i].ReplicationOffset = 0
			c.Instances[i].LagBytes = lagClass(c.Instances[i].LagBytes)
		}
		return c
	}
	return !equality.Semantic.DeepEqual(coarse(before), coarse(after))
}

// lagClass puts a replica's lag in bytes into classes a user tells apart:
// in sync (under a mebibyte: a few writes in flight), then each class
// sixteen times the one before.
func lagClass(lag int64) int64 {
	class := int64(0)
	for limit := int64(1 << 20); lag >= limit && class < 8; limit *= 16 {
		class++
	}
	return class
}

// instanceStatuses asks every instance manager for GET /status at once.
func (r *RedisFailoverReconciler) instanceStatuses(ctx context.Context, rf *haredisv1.RedisFailover, st *state) map[string]*instanceapi.Status {
	out := map[string]*instanceapi.Status{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, n := range st.instances {
		p := st.pods[n]
		if p == nil || r.Reach.InstanceURL(rf, p) == "" {
			continue
		}
		wg.Go(func() {
			s, err := r.instanceClient(rf, p, st).Status(ctx)
			if err != nil {
				log.FromContext(ctx).V(1).Info("cannot read instance status", "instance", n, "error", err.Error())
				return
			}
			mu.Lock()
			out[n] = s
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

func (r *RedisFailoverReconciler) setConditions(rf *haredisv1.RedisFailover, st *state, notReady []string) {
	set := func(t string, ok bool, reason, msg string) {
		s := metav1.ConditionFalse
		if ok {
			s = metav1.ConditionTrue
		}
		meta.SetStatusCondition(&rf.Status.Conditions, metav1.Condition{Type: t, Status: s, Reason: reason, Message: msg, ObservedGeneration: rf.Generation})
	}
	primary := rf.Status.CurrentPrimary
	ps := st.statuses[primary]
	primaryOK, blockedReason, blockedMsg := writesBlocked(rf, st)
	v := st.view

	// FailingOver: the sentinels disagree, or their primary is not yet
	// acting as one.
	switch {
	case v.answered == 0:
		set(haredisv1.ConditionFailingOver, false, haredisv1.ReasonNoSentinelAnswer, "no sentinel answered yet")
	case v.primary == "":
		set(haredisv1.ConditionFailingOver, true, haredisv1.ReasonNoSentinelMajority, fmt.Sprintf("%d of %d sentinels answered and no majority names a primary; Sentinel is electing one", v.answered, v.asked))
	case ps != nil && ps.Role == string(haredisv1.RoleReplica):
		// An instance that does not answer tells nothing either way; one
		// that still replicates has not been promoted yet.
		set(haredisv1.ConditionFailingOver, true, haredisv1.ReasonPromotionInProgress, fmt.Sprintf("the sentinels elected %s, which still reports itself a replica", primary))
	case !primaryOK && !primaryTakesWrites(ps) && strings.Contains(nextStep(rf, st), "the sentinels fail over"):
		set(haredisv1.ConditionFailingOver, true, haredisv1.ReasonPrimaryDown, fmt.Sprintf("the sentinels name %s, which does not accept writes; %s", primary, nextStep(rf, st)))
	default:
		set(haredisv1.ConditionFailingOver, false, haredisv1.ReasonStable, fmt.Sprintf("the sentinels agree on %s", primary))
	}

	sentinelsOK := v.asked == st.sentinelCount && v.answered == v.asked && v.primary != "" && v.complete == v.asked &&
		len(st.sentinelErrors) == 0
	sentinelTrouble := ""
	if len(st.sentinelErrors) > 0 {
		sentinelTrouble = "; " + strings.Join(st.sentinelErrors, "; ")
	}
	proxyOK, proxiesWhole := true, true
	if rf.ProxyEnabled() {
		proxyOK, proxiesWhole = st.readyProxies > 0 && len(st.proxyMisroutes) == 0, st.readyProxies >= rf.Spec.Proxy.Replicas
	}
	switch {
	case primaryOK && len(notReady) == 0 && sentinelsOK && proxyOK:
		set(haredisv1.ConditionReady, true, haredisv1.ReasonReady, fmt.Sprintf("primary %s and %d replicas ready; %d sentinels agree", primary, len(st.instances)-1, v.answered))
	case !primaryOK:
		set(haredisv1.ConditionReady, false, blockedReason, blockedMsg)
	case !proxyOK && len(st.proxyMisroutes) > 0:
		set(haredisv1.ConditionReady, false, haredisv1.ReasonProxyNotReady, fmt.Sprintf("REDIS_URL fails for some clients: %s; the proxies follow Sentinel, so this clears within seconds (the primary serves through %s)", strings.Join(st.proxyMisroutes, "; "), rf.PrimaryServiceName()))
	case !proxyOK:
		set(haredisv1.ConditionReady, false, haredisv1.ReasonProxyNotReady, fmt.Sprintf("no proxy of Deployment %s is ready: REDIS_URL has no endpoints yet (the primary serves through %s)", specs.ProxyName(rf), rf.PrimaryServiceName()))
	case len(notReady) > 0:
		set(haredisv1.ConditionReady, false, haredisv1.ReasonInstancesNotReady, "not ready: "+strings.Join(notReady, ", "))
	default:
		set(haredisv1.ConditionReady, false, haredisv1.ReasonSentinelsNotReady, fmt.Sprintf("%d of %d sentinels answered, %d of them know every replica and peer; failover is not possible until they do%s", v.answered, st.sentinelCount, v.complete, sentinelTrouble))
	}
	if reason, msg := fenceState(rf, ps); reason != "" && primaryOK {
		set(haredisv1.ConditionReady, false, reason, msg)
	}
	switch {
	case !primaryOK:
		set(haredisv1.ConditionDegraded, true, haredisv1.ReasonWritesNotAccepted, blockedMsg)
	case primaryOK && (len(notReady) > 0 || !sentinelsOK):
		set(haredisv1.ConditionDegraded, true, haredisv1.ReasonReducedRedundancy, fmt.Sprintf("the primary serves but %d instances are not ready and %d of %d sentinels answered; a failure now may not be survived%s", len(notReady), v.answered, st.sentinelCount, sentinelTrouble))
	case primaryOK && !proxiesWhole:
		set(haredisv1.ConditionDegraded, true, haredisv1.ReasonProxiesNotReady, fmt.Sprintf("%d of %d proxies ready", st.readyProxies, rf.Spec.Proxy.Replicas))
	default:
		set(haredisv1.ConditionDegraded, false, haredisv1.ReasonNotDegraded, "")
	}

	if msgs := configErrors(st); len(msgs) > 0 {
		set(haredisv1.ConditionConfigInvalid, true, haredisv1.ReasonRedisRefusedConfig, strings.Join(msgs, "; ")+"; the previous parameter group stays in force and nothing restarted; fix spec.redis.config")
	} else {
		set(haredisv1.ConditionConfigInvalid, false, haredisv1.ReasonConfigAccepted, "every instance accepted the parameter group")
	}
	if reason, msg := progressMessage(rf, st); reason != "" {
		set(haredisv1.ConditionProgressing, true, reason, msg)
	} else {
		set(haredisv1.ConditionProgressing, false, haredisv1.ReasonIdle, "no planned operation under way")
	}
	set(configApplied(rf, st))
	if bad, msg := dataCorrupt(st); bad {
		set(haredisv1.ConditionDataCorrupt, true, haredisv1.ReasonCannotLoadData, msg)
	} else {
		set(haredisv1.ConditionDataCorrupt, false, haredisv1.ReasonDataLoads, "every instance that runs loaded its data files")
	}
	if st.passwordSync.ok {
		msg := st.passwordSync.message
		if msg == "" {
			msg = "the password Secret holds the password in force"
		}
		set(haredisv1.ConditionPasswordSecretInSync, true, haredisv1.ReasonInSync, msg)
	} else {
		set(haredisv1.ConditionPasswordSecretInSync, false, st.passwordSync.reason, st.passwordSync.message)
	}
	if rf.TLSEnabled() {
		set(haredisv1.ConditionCertificateReady, st.tlsInfo.ready, st.tlsInfo.reason, st.tlsInfo.msg)
	} else {
		meta.RemoveStatusCondition(&rf.Status.Conditions, haredisv1.ConditionCertificateReady)
	}
	set(storageResized(rf, st))
	set(imageAccepted(st))
	if rf.AuthEnabled() {
		set(haredisv1.ConditionAuthDisabled, false, haredisv1.ReasonAuthEnabled, "clients, replicas and sentinels authenticate")
	} else {
		set(haredisv1.ConditionAuthDisabled, true, haredisv1.ReasonAuthDisabled, "spec.auth.enabled is false: anyone who reaches the pods can read and write, and sentinels do not authenticate each other; set spec.auth.enabled to true")
	}

	// Creating lasts until the first time everything is ready.
	switch {
	case rf.Status.Phase == "" || rf.Status.Phase == haredisv1.PhaseCreating || rf.Status.Phase == haredisv1.PhasePending:
		if meta.IsStatusConditionTrue(rf.Status.Conditions, haredisv1.ConditionReady) {
			rf.Status.Phase = haredisv1.PhaseReady
		} else {
			rf.Status.Phase = haredisv1.PhaseCreating
		}
	case meta.IsStatusConditionTrue(rf.Status.Conditions, haredisv1.ConditionFailingOver):
		rf.Status.Phase = haredisv1.PhaseFailingOver
	case readyReason(rf) == haredisv1.ReasonFenced || readyReason(rf) == haredisv1.ReasonFencing || readyReason(rf) == haredisv1.ReasonUnfencing:
		rf.Status.Phase = haredisv1.PhaseFenced
	case meta.IsStatusConditionTrue(rf.Status.Conditions, haredisv1.ConditionProgressing):
		rf.Status.Phase = haredisv1.PhaseUpdating
	case meta.IsStatusConditionTrue(rf.Status.Conditions, haredisv1.ConditionReady):
		rf.Status.Phase = haredisv1.PhaseReady
	default:
		rf.Status.Phase = haredisv1.PhaseDegraded
	}
}

// configErrors collects Redis's refusals: the PUT /config answers kept on
// the pods and the instances' own config.lastError.
func configErrors(st *state) []string {
	seen := map[string]bool{}
	var out []string
	add := func(n, msg string) {
		if msg == "" || seen[n] {
			return
		}
		seen[n] = true
		out = append(out, fmt.Sprintf("%s: %s", n, msg))
	}
	for _, n := range st.instances {
		if p := st.pods[n]; p != nil {
			add(n, p.Annotations[haredisv1.AnnotationConfigError])
		}
		if s := st.statuses[n]; s != nil {
			add(n, s.Config.LastError)
		}
	}
	sort.Strings(out)
	return out
}

// blocked reports something only the user can fix as Ready=False with an
// actionable message, and looks again later.
func (r *RedisFailoverReconciler) blocked(ctx context.Context, rf *haredisv1.RedisFailover, reason, msg string) (ctrl.Result, error) {
	before := rf.Status.DeepCopy()
	meta.SetStatusCondition(&rf.Status.Conditions, metav1.Condition{Type: haredisv1.ConditionReady, Status: metav1.ConditionFalse, Reason: reason, Message: msg, ObservedGeneration: rf.Generation})
	rf.Status.Phase = haredisv1.PhasePending
	rf.Status.ObservedGeneration = rf.Generation
	if !equality.Semantic.DeepEqual(before, &rf.Status) {
		if err := r.Status().Update(ctx, rf); err != nil {
			return ctrl.Result{}, fmt.Errorf("cannot update status: %w", err)
		}
		log.FromContext(ctx).Info("blocked until the user acts", "reason", reason, "message", msg)
	}
	return ctrl.Result{RequeueAfter: waitForUser}, nil
}

func (r *RedisFailoverReconciler) event(rf *haredisv1.RedisFailover, eventType, reason, action, note string, args ...any) {
	if r.Recorder != nil {
		r.Recorder.Eventf(rf, nil, eventType, reason, action, note, args...)
	}
}

// eventOn records an event about rf that concerns related (a pod, a
// volume). Events of one RedisFailover with the same type, reason and
// action are merged into one series whose note stays the first one's
// (events.k8s.io keys them so); the related object keeps the events of
// different instances apart.
func (r *RedisFailoverReconciler) eventOn(rf *haredisv1.RedisFailover, related client.Object, eventType, reason, action, note string, args ...any) {
	if r.Recorder == nil {
		return
	}
	if related == nil || reflect.ValueOf(related).IsNil() || related.GetUID() == "" {
		r.Recorder.Eventf(rf, nil, eventType, reason, action, note, args...)
		return
	}
	r.Recorder.Eventf(rf, related, eventType, reason, action, note, args...)
}

// configApplied: every instance has this generation's parameter group and
// nothing waits for a restart.
func configApplied(rf *haredisv1.RedisFailover, st *state) (string, bool, string, string) {
	var behind, pending []string
	want := desired(rf)
	for _, n := range st.instances {
		s := st.statuses[n]
		switch {
		case s == nil:
			behind = append(behind, n)
		case configDiffers(rf, want, s) != "":
			behind = append(behind, n+" ("+configDiffers(rf, want, s)+")")
		case len(s.Config.RestartRequired) > 0:
			pending = append(pending, fmt.Sprintf("%s (%s)", n, strings.Join(s.Config.RestartRequired, ", ")))
		}
	}
	switch {
	case len(usersNotReady(st)) > 0:
		return haredisv1.ConditionConfigApplied, false, haredisv1.ReasonUsersRefused, "the Redis users are not in force: " + strings.Join(usersNotReady(st), "; ")
	case len(pending) > 0:
		return haredisv1.ConditionConfigApplied, false, haredisv1.ReasonRestartPending, "parameters Redis cannot change at run time wait for a restart: " + strings.Join(pending, "; ") + "; the rolling update restarts these instances one at a time"
	case len(behind) > 0:
		return haredisv1.ConditionConfigApplied, false, haredisv1.ReasonApplying, fmt.Sprintf("the parameter group of generation %d is not yet in force on %s", rf.Generation, strings.Join(behind, ", "))
	}
	return haredisv1.ConditionConfigApplied, true, haredisv1.ReasonInForce, fmt.Sprintf("the parameter group of generation %d is in force on every instance", rf.Generation)
}

// storageResized: every volume has the requested size.
func storageResized(rf *haredisv1.RedisFailover, st *state) (string, bool, string, string) {
	want := specs.StorageSize(rf)
	if len(st.resizeErrors) > 0 {
		var msgs []string
		for _, n := range st.instances {
			if e, ok := st.resizeErrors[n]; ok {
				msgs = append(msgs, n+": "+e)
			}
		}
		return haredisv1.ConditionStorageResized, false, haredisv1.ReasonResizeRefused, fmt.Sprintf("cannot grow the volumes to %s: %s; they keep their size and Redis keeps serving. Volumes grow only when bound and when their StorageClass has allowVolumeExpansion: true (spec.redis.storage.size cannot be lowered again)", want.String(), strings.Join(msgs, "; "))
	}
	var growing []string
	for _, n := range st.instances {
		pvc := st.pvcs[n]
		if pvc == nil {
			continue
		}
		c, ok := pvc.Status.Capacity[corev1.ResourceStorage]
		if !ok || c.Cmp(want) < 0 {
			growing = append(growing, fmt.Sprintf("%s (%s)", n, c.String()))
		}
	}
	if len(growing) > 0 {
		return haredisv1.ConditionStorageResized, false, haredisv1.ReasonResizing, fmt.Sprintf("growing volumes to %s: %s", want.String(), strings.Join(growing, ", "))
	}
	return haredisv1.ConditionStorageResized, true, haredisv1.ReasonResized, fmt.Sprintf("every volume has %s", want.String())
}

// extraPrimary says why instance n, which runs as a primary while the
// sentinels name another, is no ready replica: an old primary back from a
// network partition after a failover keeps its role until Sentinel turns it
// into a replica (some seconds), and meanwhile NAME-replicas would send
// reads to data that is being dropped. "" when n is no such instance.
func extraPrimary(rf *haredisv1.RedisFailover, n string, s *instanceapi.Status) string {
	primary := rf.Status.CurrentPrimary
	if s == nil || primary == "" || n == primary || s.Role != string(haredisv1.RolePrimary) {
		return ""
	}
	return fmt.Sprintf("runs as a primary beside %s, the sentinels' primary; Sentinel turns it into a replica of %s", primary, primary)
}

// fenceState is the reason and message of Ready while writes are fenced
// on purpose, while the fence is being applied, or while it is being lifted
// (the primary runs with the fence until its instance manager applies the
// new durability); "" otherwise.
func fenceState(rf *haredisv1.RedisFailover, ps *instanceapi.Status) (string, string) {
	live := ps != nil && ps.DurabilityLive != nil && ps.DurabilityLive.Fenced()
	switch {
	case rf.Spec.Fenced && live:
		return haredisv1.ReasonFenced, fmt.Sprintf("spec.fenced is true: every instance refuses writes on purpose (NOREPLICAS) and %s serves reads; set spec.fenced to false (kubectl haredis unfence %s) to take writes again", rf.Status.CurrentPrimary, rf.Name)
	case rf.Spec.Fenced:
		return haredisv1.ReasonFencing, fmt.Sprintf("spec.fenced is true: the fence is being applied to %s; writes may still pass until it is", rf.Status.CurrentPrimary)
	case live:
		return haredisv1.ReasonUnfencing, fmt.Sprintf("spec.fenced is false: the fence is being lifted from %s; writes are refused until it is", rf.Status.CurrentPrimary)
	}
	return "", ""
}

func readyReason(rf *haredisv1.RedisFailover) string {
	if c := meta.FindStatusCondition(rf.Status.Conditions, haredisv1.ConditionReady); c != nil {
		return c.Reason
	}
	return ""
}

// recordFence records an event when the fence comes into force or is
// lifted.
func (r *RedisFailoverReconciler) recordFence(rf *haredisv1.RedisFailover, before *haredisv1.RedisFailoverStatus) {
	was := before != nil && before.Phase == haredisv1.PhaseFenced
	is := rf.Status.Phase == haredisv1.PhaseFenced
	switch {
	case is && !was:
		r.event(rf, corev1.EventTypeNormal, haredisv1.EventFenced, "Fence", "writes are refused on purpose (spec.fenced); reads are served")
	case was && !is:
		r.event(rf, corev1.EventTypeNormal, haredisv1.EventUnfenced, "Unfence", "the fence is lifted: writes are taken again")
	}
}
