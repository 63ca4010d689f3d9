package node

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// StatusSyncPeriod paces the node's check of the pod statuses in the API
// against what its pods report. A kubelet's status manager does the same
// (every 10 s): whoever else writes a pod's status, such as the node
// lifecycle controller marking every pod of a node NotReady when the node's
// heartbeat was late, is overwritten with the truth on the next sync.
// virtual-kubelet alone sends a status only when the provider reports a
// change, and drops it after its retries, so without this loop a pod that
// went ready while its node was marked NotReady stayed NotReady for good.
const StatusSyncPeriod = 5 * time.Second

// syncStatuses runs until ctx ends.
func (p *Provider) syncStatuses(ctx context.Context) {
	t := time.NewTicker(StatusSyncPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p.syncStatusesOnce(ctx)
	}
}

func (p *Provider) syncStatusesOnce(ctx context.Context) {
	if p.cfg.Client == nil || p.lists.Pods == nil {
		return
	}
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		return
	}
	runs := make([]*podRun, 0, len(p.pods))
	for _, r := range p.pods {
		runs = append(runs, r)
	}
	p.mu.Unlock()
	byKey := map[string]*corev1.Pod{}
	if api, err := p.lists.Pods.List(labels.Everything()); err == nil {
		for _, a := range api {
			byKey[key(a.Namespace, a.Name)] = a
		}
	}
	for _, r := range runs {
		api := byKey[key(r.pod.Namespace, r.pod.Name)]
		if api == nil || api.UID != r.pod.UID || api.Spec.NodeName != p.cfg.Name {
			continue
		}
		r.mu.Lock()
		done := r.terminated
		r.mu.Unlock()
		if done || !p.current(r) {
			continue
		}
		mine := r.snapshot()
		if sameReadiness(api.Status, mine.Status) {
			continue
		}
		mine.ResourceVersion = api.ResourceVersion
		uctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := p.cfg.Client.CoreV1().Pods(mine.Namespace).UpdateStatus(uctx, mine, metav1.UpdateOptions{})
		cancel()
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) && ctx.Err() == nil {
			r.log().Error(err, "cannot write the pod's status")
		}
	}
}

// sameReadiness compares what the status sync keeps true: the phase, the
// status of each condition and each container's readiness and restarts.
func sameReadiness(a, b corev1.PodStatus) bool {
	if a.Phase != b.Phase || len(a.ContainerStatuses) != len(b.ContainerStatuses) {
		return false
	}
	conds := map[corev1.PodConditionType]corev1.ConditionStatus{}
	for _, c := range a.Conditions {
		conds[c.Type] = c.Status
	}
	for _, c := range b.Conditions {
		if conds[c.Type] != c.Status {
			return false
		}
	}
	for i := range a.ContainerStatuses {
		x, y := a.ContainerStatuses[i], b.ContainerStatuses[i]
		if x.Name != y.Name || x.Ready != y.Ready || x.RestartCount != y.RestartCount {
			return false
		}
	}
	return true
}
