package controller

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/instanceapi"
	"github.com/haredis/haredis/internal/proxyapi"
	"github.com/haredis/haredis/internal/specs"
)

// importPoll paces the look at a live import: its lag in the status, a
// cutover that waits for the sync.
const importPoll = 2 * time.Second

// importing: spec.bootstrap.fromRedis is set and its cutover has not
// happened. Until it has, only the initial primary runs (a replica of the
// source), no sentinel watches it, and the proxies send REDIS_URL's
// commands to the source.
func importing(rf *haredisv1.RedisFailover) bool {
	return rf.Spec.Bootstrap != nil && rf.Spec.Bootstrap.FromRedis != nil && !bootstrapDone(rf)
}

// importSource is host:port of a live import's source.
func importSource(rf *haredisv1.RedisFailover) string { return rf.LiveImportSource() }

// liveImport runs a live import: it reports how far the initial primary
// is behind the source, keeps the proxies on the source, and runs the
// cutover when asked (the annotation haredis.dev/cutover, or cutover:
// Automatic) once the initial primary is in sync. While the import runs
// the chain ends here: nothing else may act on an instance that
// replicates from outside.
func (r *RedisFailoverReconciler) liveImport(ctx context.Context, rf *haredisv1.RedisFailover, st *state) (ctrl.Result, error) {
	if !importing(rf) {
		return ctrl.Result{}, nil
	}
	src, name := importSource(rf), rf.Status.CurrentPrimary
	li := &haredisv1.LiveImportStatus{Source: src, LagBytes: -1}
	if old := rf.Status.LiveImport; old != nil {
		li.LastCutoverError = old.LastCutoverError
	}
	pod := st.pods[name]
	var ms *instanceapi.Status
	if pod != nil && r.Reach.InstanceURL(rf, pod) != "" {
		s, err := r.instanceClient(rf, pod, st).Status(ctx)
		if err != nil {
			li.Problem = fmt.Sprintf("%s does not answer: %v", name, err)
		}
		ms = s
	} else {
		li.Problem = fmt.Sprintf("the pod of %s does not run yet", name)
	}
	if ms != nil && ms.Bootstrap != nil && ms.Bootstrap.Phase == instanceapi.BootstrapImported {
		// The cutover happened (its outcome may not have been recorded).
		return r.importDone(ctx, rf, st, pod, ms.Bootstrap.Import)
	}
	if ms != nil && ms.Bootstrap != nil && ms.Bootstrap.Import != nil {
		im := ms.Bootstrap.Import
		li.LinkUp, li.Problem = im.LinkUp, im.Problem
		li.LagBytes = im.LagBytes
		if old := rf.Status.LiveImport; old != nil && im.LagBytes >= 0 && old.LagBytes >= 0 && lagClass(old.LagBytes) == lagClass(im.LagBytes) {
			li.LagBytes = old.LagBytes // moves with every write: only a new class is worth a status write
		}
		if im.LinkUp {
			// Only while the manager says it imports: the proxies go to
			// the source, never after the cutover.
			_ = r.routeProxiesTo(ctx, rf, st, src)
		}
	}
	_, asked := rf.Annotations[haredisv1.AnnotationCutover]
	if asked && li.LinkUp || r.automaticCutoverDue(rf, li) {
		res, err := r.cutover(ctx, rf, st, pod)
		if asked {
			if rerr := r.removeAnnotation(ctx, rf, haredisv1.AnnotationCutover); rerr != nil {
				return ctrl.Result{}, rerr
			}
		}
		if err == nil {
			cutoversTotal.WithLabelValues(rf.Namespace, rf.Name, "Succeeded").Inc()
			r.event(rf, corev1.EventTypeNormal, haredisv1.EventCutover, "Cutover", "%s is the writer: it had the source %s's every write at offset %d; the source's writes were held %d ms",
				name, src, res.Offset, res.WritesHeldMilliseconds)
			return r.importDone(ctx, rf, st, pod, nil)
		}
		li.LastCutoverError = err.Error()
		r.cutoverFailed.Store(client.ObjectKeyFromObject(rf), time.Now())
		cutoversTotal.WithLabelValues(rf.Namespace, rf.Name, "Failed").Inc()
		r.event(rf, corev1.EventTypeWarning, haredisv1.EventCutoverFailed, "Cutover", "the cutover did not happen, the import goes on: %v", err)
	}
	rf.Status.LiveImport = li
	msg := fmt.Sprintf("live import: %s replicates from %s; REDIS_URL reaches the source through the proxy until the cutover", name, src)
	switch {
	case li.Problem != "":
		msg += "; " + li.Problem
	case rf.Spec.Bootstrap.FromRedis.Cutover == haredisv1.CutoverAutomatic:
		msg += "; the cutover starts by itself"
	default:
		msg += fmt.Sprintf("; in sync: start the cutover with kubectl annotate redisfailovers.haredis.dev %s %s=now", rf.Name, haredisv1.AnnotationCutover)
	}
	if asked && !li.LinkUp {
		msg += "; the cutover asked for waits until the import is in sync"
	}
	meta.SetStatusCondition(&rf.Status.Conditions, metav1.Condition{Type: haredisv1.ConditionReady, Status: metav1.ConditionFalse,
		Reason: haredisv1.ReasonImporting, Message: msg, ObservedGeneration: rf.Generation})
	rf.Status.Phase = haredisv1.PhaseImporting
	rf.Status.ObservedGeneration = rf.Generation
	if err := r.writeStatusIfChanged(ctx, rf, st); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: importPoll}, nil
}

// automaticCutoverLag and automaticCutoverRetry pace cutover: Automatic:
// it starts once the initial primary is less than a MiB behind, and not
// again within a minute of a failed attempt (each holds the source's
// writes for seconds).
const (
	automaticCutoverLag   = 1 << 20
	automaticCutoverRetry = time.Minute
)

// automaticCutoverDue: cutover: Automatic, in sync and close behind, and
// no failed attempt in the last minute.
func (r *RedisFailoverReconciler) automaticCutoverDue(rf *haredisv1.RedisFailover, li *haredisv1.LiveImportStatus) bool {
	if rf.Spec.Bootstrap.FromRedis.Cutover != haredisv1.CutoverAutomatic || !li.LinkUp || li.LagBytes < 0 || li.LagBytes > automaticCutoverLag {
		return false
	}
	if at, ok := r.cutoverFailed.Load(client.ObjectKeyFromObject(rf)); ok && time.Since(at.(time.Time)) < automaticCutoverRetry {
		return false
	}
	return true
}

// cutover holds the proxies' commands, has the initial primary's manager
// take over from the source (POST /cutover) and sends the proxies to it.
// It does not start unless every running proxy is held. When the manager
// refuses, the proxies resume on the source; when its answer is lost, they
// stay held (the source holds their writes too) until the next reconcile
// reads the outcome from the manager.
func (r *RedisFailoverReconciler) cutover(ctx context.Context, rf *haredisv1.RedisFailover, st *state, pod *corev1.Pod) (*instanceapi.CutoverResult, error) {
	mc := r.instanceClient(rf, pod, st)
	if err := r.eachProxy(ctx, rf, st, func(c proxyapi.Client) error { return c.Pause(ctx, proxyPauseWait) }, "pause"); err != nil {
		_ = r.eachProxy(ctx, rf, st, func(c proxyapi.Client) error { return c.Resume(ctx, "") }, "resume")
		return nil, fmt.Errorf("not every proxy could be held, so the cutover did not start: %w", err)
	}
	res, err := mc.Cutover(ctx)
	if err != nil {
		s, serr := mc.Status(ctx)
		switch {
		case serr == nil && s.Bootstrap != nil && s.Bootstrap.Phase == instanceapi.BootstrapImported && s.Bootstrap.Import != nil:
			res = &instanceapi.CutoverResult{Offset: s.Bootstrap.Import.Offset}
		case serr == nil && s.Bootstrap != nil && s.Bootstrap.Phase == instanceapi.BootstrapImporting:
			_ = r.eachProxy(ctx, rf, st, func(c proxyapi.Client) error { return c.Resume(ctx, "") }, "resume")
			return nil, err
		default:
			return nil, fmt.Errorf("the outcome is not known yet (%w); the proxies stay held until the manager tells", err)
		}
	}
	return res, nil
}

// finishCutover sends every proxy to the new primary and, once all of
// them are there, has the manager lift its hold on the source's writes
// (else the hold ends by itself after instanceapi.CutoverMaxHold).
func (r *RedisFailoverReconciler) finishCutover(ctx context.Context, rf *haredisv1.RedisFailover, st *state, pod *corev1.Pod) {
	if pod == nil {
		return
	}
	if err := r.routeProxiesTo(ctx, rf, st, r.newPrimaryAddrs(rf, pod)...); err != nil {
		log.FromContext(ctx).Info("the source's writes stay held: a proxy may still send to it", "error", err.Error())
		return
	}
	if err := r.instanceClient(rf, pod, st).ReleaseCutover(ctx); err != nil {
		log.FromContext(ctx).Info("cannot lift the hold on the source's writes; it ends by itself", "error", err.Error())
	}
}

// routeProxiesTo sends every proxy that routes elsewhere to the first of
// addrs it accepts (it checks ROLE there), also one that is paused (Resume
// releases it there).
func (r *RedisFailoverReconciler) routeProxiesTo(ctx context.Context, rf *haredisv1.RedisFailover, st *state, addrs ...string) error {
	if !rf.ProxyEnabled() {
		return nil
	}
	return r.eachProxy(ctx, rf, st, func(c proxyapi.Client) error {
		s, serr := c.Status(ctx)
		var errs []error
		for _, a := range addrs {
			if a == "" {
				continue
			}
			if serr == nil && s.Primary == a && !s.Paused {
				return nil
			}
			err := c.Resume(ctx, a)
			if err == nil {
				return nil
			}
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	}, "route")
}

// newPrimaryAddrs are the addresses the proxies may reach the initial
// primary by after the cutover: its stable name, which the sentinels will
// announce, else its pod IP.
func (r *RedisFailoverReconciler) newPrimaryAddrs(rf *haredisv1.RedisFailover, pod *corev1.Pod) []string {
	return []string{net.JoinHostPort(specs.InstanceHost(rf, pod.Name), strconv.Itoa(specs.RedisPort)), r.Reach.RedisAddr(rf, pod)}
}

// importDone records the cutover: Bootstrapped, status.liveImport, and the
// proxies sent to the new primary (a proxy that missed the cutover's
// resume must not go on with the source). The next reconcile creates the
// sentinels and the other instances.
func (r *RedisFailoverReconciler) importDone(ctx context.Context, rf *haredisv1.RedisFailover, st *state, pod *corev1.Pod, im *instanceapi.ImportStatus) (ctrl.Result, error) {
	r.finishCutover(ctx, rf, st, pod)
	li := rf.Status.LiveImport
	if li == nil {
		li = &haredisv1.LiveImportStatus{Source: importSource(rf)}
	}
	li.LinkUp, li.LagBytes, li.Problem = false, 0, ""
	at := time.Now()
	if im != nil && !im.CutoverAt.IsZero() {
		at = im.CutoverAt
	}
	li.CutoverTime = &metav1.Time{Time: at}
	rf.Status.LiveImport = li
	setBootstrapped(rf, true, haredisv1.ReasonBootstrapImported, fmt.Sprintf("%s took over from %s at the cutover; the sentinels and the other instances start now", rf.Status.CurrentPrimary, li.Source))
	rf.Status.Phase = haredisv1.PhaseCreating
	if err := r.writeStatusIfChanged(ctx, rf, st); err != nil {
		return ctrl.Result{}, err
	}
	log.FromContext(ctx).Info("live import over", "primary", rf.Status.CurrentPrimary, "source", li.Source)
	return ctrl.Result{RequeueAfter: time.Millisecond}, nil
}

// markReplicasInSync records, after a live import's cutover, when as
// many replicas as the spec's min-replicas-to-write are in sync with the
// new primary (read by readInstances): from then on the durability the
// spec asks for is in force (EffectiveDurability, sent by applyConfig).
// reportStatus writes it.
func (r *RedisFailoverReconciler) markReplicasInSync(ctx context.Context, rf *haredisv1.RedisFailover, st *state) (ctrl.Result, error) {
	li := rf.Status.LiveImport
	if !rf.ImportHoldsDurability() || li == nil || li.CutoverTime == nil {
		return ctrl.Result{}, nil
	}
	want, _ := rf.SpecDurability()
	inSync := 0
	for name, s := range st.statuses {
		if name != rf.Status.CurrentPrimary && s != nil && s.Role == instanceapi.RoleReplica && s.Ready {
			inSync++
		}
	}
	if int32(inSync) < want {
		return ctrl.Result{}, nil
	}
	li.ReplicasInSyncTime = &metav1.Time{Time: time.Now()}
	log.FromContext(ctx).Info("replicas in sync after the live import's cutover: the spec's durability is in force", "replicas", inSync, "minReplicasToWrite", want)
	return ctrl.Result{}, nil
}

// writeStatusIfChanged writes rf's status when it differs from what was
// read.
func (r *RedisFailoverReconciler) writeStatusIfChanged(ctx context.Context, rf *haredisv1.RedisFailover, st *state) error {
	if equality.Semantic.DeepEqual(st.statusBefore, &rf.Status) {
		return nil
	}
	if err := r.Status().Update(ctx, rf); err != nil {
		return fmt.Errorf("cannot update status: %w", err)
	}
	return nil
}

// removeAnnotation deletes key from rf's annotations.
func (r *RedisFailoverReconciler) removeAnnotation(ctx context.Context, rf *haredisv1.RedisFailover, key string) error {
	if _, ok := rf.Annotations[key]; !ok {
		return nil
	}
	patch := client.MergeFrom(rf.DeepCopy())
	delete(rf.Annotations, key)
	if err := r.Patch(ctx, rf, patch); err != nil {
		return fmt.Errorf("cannot remove the annotation %s: %w", key, err)
	}
	return nil
}
