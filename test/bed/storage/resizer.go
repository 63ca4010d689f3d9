package storage

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// resizeLoop grows volumes whose claims ask for more than they have. It
// polls: the bed has few claims and a second of latency is fine.
func (p *Provisioner) resizeLoop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pvcs, err := p.client.CoreV1().PersistentVolumeClaims("").List(ctx, metav1.ListOptions{})
		if err != nil {
			continue
		}
		for i := range pvcs.Items {
			pvc := &pvcs.Items[i]
			if err := p.resize(ctx, pvc); err != nil {
				p.log.Error(err, "cannot resize volume", "pvc", pvc.Namespace+"/"+pvc.Name)
			}
		}
	}
}

func (p *Provisioner) resize(ctx context.Context, pvc *corev1.PersistentVolumeClaim) error {
	if pvc.Status.Phase != corev1.ClaimBound || pvc.Spec.VolumeName == "" {
		return nil
	}
	want := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	have := pvc.Status.Capacity[corev1.ResourceStorage]
	if want.Cmp(have) <= 0 {
		return nil
	}
	pv, err := p.client.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("cannot read PV: %w", err)
	}
	mnt := pv.Annotations[volumeAnnotation]
	if mnt == "" {
		return nil // not one of ours
	}
	pvSize := pv.Spec.Capacity[corev1.ResourceStorage]
	if want.Cmp(pvSize) > 0 {
		if err := run(ctx, "mount", "-o", fmt.Sprintf("remount,size=%d", want.Value()), mnt); err != nil {
			return err
		}
		pv.Spec.Capacity[corev1.ResourceStorage] = want
		if _, err := p.client.CoreV1().PersistentVolumes().Update(ctx, pv, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("cannot record PV capacity: %w", err)
		}
	}
	pvc = pvc.DeepCopy()
	pvc.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: want}
	pvc.Status.AllocatedResources = corev1.ResourceList{corev1.ResourceStorage: want}
	pvc.Status.AllocatedResourceStatuses = nil
	var conds []corev1.PersistentVolumeClaimCondition
	for _, c := range pvc.Status.Conditions {
		if c.Type != corev1.PersistentVolumeClaimResizing && c.Type != corev1.PersistentVolumeClaimFileSystemResizePending {
			conds = append(conds, c)
		}
	}
	pvc.Status.Conditions = conds
	if _, err := p.client.CoreV1().PersistentVolumeClaims(pvc.Namespace).UpdateStatus(ctx, pvc, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("cannot record PVC capacity: %w", err)
	}
	p.log.Info("volume grown", "pvc", pvc.Namespace+"/"+pvc.Name, "size", want.String())
	return nil
}
