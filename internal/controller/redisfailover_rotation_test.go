package controller

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/haredis/haredis/internal/acl"
	"github.com/haredis/haredis/internal/specs"
)

// TestNextRotation walks the rule of a rotation of the application
// password through its phases and through changes of the source Secret in
// each of them.
func TestNextRotation(t *testing.T) {
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	hour := time.Hour
	later := now.Add(hour).Format(time.RFC3339)
	cases := []struct {
		name            string
		inForce, source string
		rec             specs.Rotation
		taken           bool
		grace           time.Duration
		wantPW          string
		wantRot         specs.Rotation
		wantStep        rotationStep
	}{
		{name: "nothing changes", inForce: "a", source: "a", wantPW: "a", wantStep: rotationNone},
		{name: "an unreadable source changes nothing", inForce: "a", source: "", wantPW: "a", wantStep: rotationNone},
		{name: "a new password begins a rotation", inForce: "a", source: "b", grace: hour,
			wantPW: "b", wantRot: specs.Rotation{Previous: "a"}, wantStep: rotationBegin},
		{name: "waiting for the pods", inForce: "b", source: "b", rec: specs.Rotation{Previous: "a"}, grace: hour,
			wantPW: "b", wantRot: specs.Rotation{Previous: "a"}, wantStep: rotationNone},
		{name: "every pod takes it: the connection Secret switches", inForce: "b", source: "b", rec: specs.Rotation{Previous: "a"}, taken: true, grace: hour,
			wantPW: "b", wantRot: specs.Rotation{Previous: "a", Until: later}, wantStep: rotationSwitch},
		{name: "a grace period of 0 ends at the switch", inForce: "b", source: "b", rec: specs.Rotation{Previous: "a"}, taken: true,
			wantPW: "b", wantStep: rotationEnd},
		{name: "within the grace period", inForce: "b", source: "b", rec: specs.Rotation{Previous: "a", Until: later}, taken: true, grace: hour,
			wantPW: "b", wantRot: specs.Rotation{Previous: "a", Until: later}, wantStep: rotationNone},
		{name: "after the grace period", inForce: "b", source: "b", rec: specs.Rotation{Previous: "a", Until: now.Add(-time.Second).Format(time.RFC3339)}, grace: hour,
			wantPW: "b", wantStep: rotationEnd},
		{name: "an unreadable end ends it", inForce: "b", source: "b", rec: specs.Rotation{Previous: "a", Until: "garbage"}, grace: hour,
			wantPW: "b", wantStep: rotationEnd},
		{name: "back to the previous one before the switch waits for the switch", inForce: "b", source: "a", rec: specs.Rotation{Previous: "a"}, grace: hour,
			wantPW: "b", wantRot: specs.Rotation{Previous: "a"}, wantStep: rotationHeld},
		{name: "a third password before the switch waits for the switch", inForce: "b", source: "c", rec: specs.Rotation{Previous: "a"}, grace: hour,
			wantPW: "b", wantRot: specs.Rotation{Previous: "a"}, wantStep: rotationHeld},
		{name: "a held change does not stop the switch", inForce: "b", source: "c", rec: specs.Rotation{Previous: "a"}, taken: true, grace: hour,
			wantPW: "b", wantRot: specs.Rotation{Previous: "a", Until: later}, wantStep: rotationSwitch},
		{name: "a third password after the switch replaces the previous one", inForce: "b", source: "c", rec: specs.Rotation{Previous: "a", Until: later}, grace: hour,
			wantPW: "c", wantRot: specs.Rotation{Previous: "b"}, wantStep: rotationBegin},
	}
	for _, c := range cases {
		pw, rot, step := nextRotation(c.inForce, c.source, c.rec, c.taken, now, c.grace)
		if pw != c.wantPW || rot != c.wantRot || step != c.wantStep {
			t.Errorf("%s: got %q %+v step %d, want %q %+v step %d", c.name, pw, rot, step, c.wantPW, c.wantRot, c.wantStep)
		}
	}
}

// TestPodsWithoutRotation: a rotation waits for pods that cannot read the
// previous password's hash (made by an earlier haredis).
func TestPodsWithoutRotation(t *testing.T) {
	withItems := func(name string, keys ...string) corev1.Pod {
		var items []corev1.KeyToPath
		for _, k := range keys {
			items = append(items, corev1.KeyToPath{Key: k, Path: k})
		}
		return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{Volumes: []corev1.Volume{
			{Name: "auth", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{Items: items}}}}}}
	}
	current, old := withItems("app-1", "password", acl.PreviousPasswordHashKey), withItems("app-2", "password")
	st := &state{instances: []string{"app-1", "app-2"}, pods: map[string]*corev1.Pod{"app-1": &current, "app-2": &old},
		sentinels: []corev1.Pod{withItems("app-sentinel-1", acl.PreviousPasswordHashKey)},
		proxies:   []corev1.Pod{withItems("app-proxy-x", "password"), withItems("app-proxy-y", "password", specs.PreviousPasswordKey)}}
	got := podsWithoutRotation(st)
	if strings.Join(got, ",") != "app-2,app-proxy-x" {
		t.Errorf("podsWithoutRotation = %v, want app-2 and app-proxy-x", got)
	}
}
