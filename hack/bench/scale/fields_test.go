package main

import (
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	haredisv1 "github.com/haredis/haredis/api/v1"
)

func TestChangedFieldsNamesWhatDiffers(t *testing.T) {
	a := haredisv1.RedisFailoverStatus{Phase: haredisv1.PhaseReady, Instances: []haredisv1.InstanceStatus{{Name: "a-1", ReplicationOffset: 10}, {Name: "a-2", ReplicationOffset: 10}},
		Conditions: []metav1.Condition{{Type: haredisv1.ConditionReady, Status: metav1.ConditionTrue}}}
	b := *a.DeepCopy()
	b.Instances[1].ReplicationOffset = 20
	if got := changedFields(a, b); !slices.Equal(got, []string{"instances[].replicationOffset"}) || !offsetsOnly(a, b) {
		t.Errorf("offset only: %v, %v", got, offsetsOnly(a, b))
	}
	b.Conditions[0].Status = metav1.ConditionFalse
	b.Phase = haredisv1.PhaseDegraded
	want := []string{"conditions[Ready]", "instances[].replicationOffset", "phase"}
	if got := changedFields(a, b); !slices.Equal(got, want) || offsetsOnly(a, b) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestNotReadyReasonsGroupsByReason(t *testing.T) {
	b := &bench{names: rfNames(4)}
	cond := func(status metav1.ConditionStatus, reason string) *haredisv1.RedisFailover {
		return &haredisv1.RedisFailover{Status: haredisv1.RedisFailoverStatus{Conditions: []metav1.Condition{{Type: haredisv1.ConditionReady, Status: status, Reason: reason}}}}
	}
	rfs := map[string]*haredisv1.RedisFailover{
		"rf-1": cond(metav1.ConditionTrue, "Ready"),
		"rf-2": cond(metav1.ConditionFalse, "PrimaryNotReady"),
		"rf-3": cond(metav1.ConditionFalse, "PrimaryNotReady"),
	}
	if got, want := b.notReadyReasons(rfs), "NotSeen 1, PrimaryNotReady 2"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if b.countReady(rfs) != 1 {
		t.Errorf("ready %d", b.countReady(rfs))
	}
}
