package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/redistest"
	"github.com/haredis/haredis/internal/specs"
)

func waitBootstrapped(t *testing.T, ns, name string, status metav1.ConditionStatus, reason, says string) *haredisv1.RedisFailover {
	t.Helper()
	var rf *haredisv1.RedisFailover
	redistest.WaitFor(t, 30*time.Second, name+" Bootstrapped "+reason, func(ctx context.Context) error {
		var err error
		if rf, err = getRF(ctx, ns, name); err != nil {
			return err
		}
		c := meta.FindStatusCondition(rf.Status.Conditions, haredisv1.ConditionBootstrapped)
		if c == nil || c.Status != status || c.Reason != reason || !strings.Contains(c.Message, says) {
			return fmt.Errorf("Bootstrapped %+v", c)
		}
		return nil
	})
	return rf
}

// TestBootstrapFromAMissingBackupCreatesNoPod: no instance starts empty in
// the place of a seed the operator cannot find; the status says which.
func TestBootstrapFromAMissingBackupCreatesNoPod(t *testing.T) {
	ns := newNamespace(t, "bootstrap")
	startOperator(t, nil, ns)
	createRF(t, ns, "app", func(rf *haredisv1.RedisFailover) {
		rf.Spec.Bootstrap = &haredisv1.BootstrapSpec{FromBackup: &haredisv1.LocalObjectReference{Name: "nightly"}}
	})
	rf := waitBootstrapped(t, ns, "app", metav1.ConditionFalse, haredisv1.ReasonBootstrapSourceMissing, "RedisBackup nightly does not exist")
	if c := meta.FindStatusCondition(rf.Status.Conditions, haredisv1.ConditionReady); c == nil || c.Reason != haredisv1.ReasonBootstrapPending || rf.Status.Phase != haredisv1.PhasePending {
		t.Errorf("phase %s, Ready %+v", rf.Status.Phase, c)
	}
	var pods corev1.PodList
	if err := k8sClient.List(context.Background(), &pods, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) > 0 {
		t.Errorf("%d pods created while the seed is missing", len(pods.Items))
	}

	// A backup that is not completed yet keeps it waiting, with that reason.
	rb := &haredisv1.RedisBackup{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "nightly"},
		Spec: haredisv1.RedisBackupSpec{Failover: haredisv1.LocalObjectReference{Name: "elsewhere"}}}
	if err := k8sClient.Create(context.Background(), rb); err != nil {
		t.Fatal(err)
	}
	waitBootstrapped(t, ns, "app", metav1.ConditionFalse, haredisv1.ReasonBootstrapSourceNotReady, "RedisBackup nightly is")
	if err := k8sClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "app-1"}, &corev1.Pod{}); !apierrors.IsNotFound(err) {
		t.Errorf("pod app-1 exists (err %v) before the seed is found", err)
	}
}

// TestBootstrapSkippedOnKeptVolumes: a RedisFailover deleted and created
// again from the same manifest, on the volumes it kept, does not wait for
// (or load) its seed: the volumes hold newer data.
func TestBootstrapSkippedOnKeptVolumes(t *testing.T) {
	ns := newNamespace(t, "bootstrap-kept")
	old := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app-1", Labels: map[string]string{}},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
	probe := &haredisv1.RedisFailover{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app"}}
	for k, v := range specs.Selector(probe, specs.ComponentRedis) {
		old.Labels[k] = v
	}
	old.Labels[haredisv1.LabelRedisInstance] = "app-1"
	old.Labels[specs.LabelManagedBy] = specs.ManagedBy
	if err := k8sClient.Create(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	// The RedisFailover is created a second later than its volume.
	redistest.WaitFor(t, 5*time.Second, "a second after the volume", func(context.Context) error {
		if time.Since(old.CreationTimestamp.Time) < 1100*time.Millisecond {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	startOperator(t, nil, ns)
	createRF(t, ns, "app", func(rf *haredisv1.RedisFailover) {
		rf.Spec.Bootstrap = &haredisv1.BootstrapSpec{FromBackup: &haredisv1.LocalObjectReference{Name: "long-gone"}}
	})
	waitBootstrapped(t, ns, "app", metav1.ConditionTrue, haredisv1.ReasonBootstrapSkipped, "the volume app-1 is older than this RedisFailover")
	redistest.WaitFor(t, 30*time.Second, "pods created", func(ctx context.Context) error {
		return podsExist(ctx, ns, "app-1")
	})
}
