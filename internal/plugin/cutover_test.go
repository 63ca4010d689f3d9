package plugin

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	haredisv1 "github.com/haredis/haredis/api/v1"
)

func importingRF() *haredisv1.RedisFailover {
	rf := readyRF()
	rf.Spec.Bootstrap = &haredisv1.BootstrapSpec{FromRedis: &haredisv1.RedisSource{Host: "10.0.0.9", Port: 6379}}
	rf.Status.LiveImport = &haredisv1.LiveImportStatus{Source: "10.0.0.9:6379", LinkUp: true}
	return rf
}

// operatorAnswers plays the operator: once the annotation is there, it
// applies end to the RedisFailover (annotation and status).
func operatorAnswers(t *testing.T, c client.Client, rf *haredisv1.RedisFailover, end func(*haredisv1.RedisFailover)) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := &haredisv1.RedisFailover{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(rf), got); err != nil {
			t.Fatal(err)
		}
		if _, ok := got.Annotations[haredisv1.AnnotationCutover]; ok {
			patch := client.MergeFrom(got.DeepCopy())
			delete(got.Annotations, haredisv1.AnnotationCutover)
			if err := c.Patch(ctx, got, patch); err != nil {
				t.Fatal(err)
			}
			end(got)
			if err := c.Status().Update(ctx, got); err != nil {
				t.Fatal(err)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("cutover did not set the annotation")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCutoverWaitsForTheOutcome(t *testing.T) {
	rf := importingRF()
	c := fakeClient(t, rf)
	done := make(chan error, 1)
	var out bytes.Buffer
	go func() { done <- Cutover(ctx, c, &out, "shop", "app", 10*time.Second) }()
	operatorAnswers(t, c, rf, func(rf *haredisv1.RedisFailover) {
		at := metav1.NewTime(time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC))
		rf.Status.LiveImport.CutoverTime = &at
		meta.SetStatusCondition(&rf.Status.Conditions, metav1.Condition{Type: haredisv1.ConditionBootstrapped, Status: metav1.ConditionTrue, Reason: haredisv1.ReasonBootstrapImported})
	})
	if err := <-done; err != nil {
		t.Fatalf("cutover: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "app-2 is the writer: it took over from 10.0.0.9:6379 at 2027-03-01T12:00:00Z") {
		t.Errorf("cutover printed:\n%s", out.String())
	}
}

func TestCutoverSaysWhyItDidNotHappen(t *testing.T) {
	rf := importingRF()
	c := fakeClient(t, rf)
	done := make(chan error, 1)
	var out bytes.Buffer
	go func() { done <- Cutover(ctx, c, &out, "shop", "app", 10*time.Second) }()
	operatorAnswers(t, c, rf, func(rf *haredisv1.RedisFailover) {
		rf.Status.LiveImport.LastCutoverError = "did not catch up with the source within 8s"
	})
	err := <-done
	if err == nil || !strings.Contains(err.Error(), "did not catch up") || !strings.Contains(err.Error(), "the import goes on") {
		t.Fatalf("cutover: %v", err)
	}
}

func TestCutoverRefusesWithoutALiveImport(t *testing.T) {
	c := fakeClient(t, readyRF())
	var out bytes.Buffer
	err := Cutover(ctx, c, &out, "shop", "app", 0)
	if err == nil || !strings.Contains(err.Error(), "spec.bootstrap.fromRedis is not set") {
		t.Fatalf("cutover without an import: %v", err)
	}
	got := &haredisv1.RedisFailover{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "app"}, got); err != nil {
		t.Fatal(err)
	}
	if _, ok := got.Annotations[haredisv1.AnnotationCutover]; ok {
		t.Error("the annotation was set on a RedisFailover without a live import")
	}
}
