package controller

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/acl"
)

// A declared user's new password is in force at once; the previous one is
// accepted beside it for the grace period, then dropped; a second change
// within the period keeps only the one it replaced.
func TestDeclaredUserPasswordRotation(t *testing.T) {
	r := &RedisFailoverReconciler{}
	rf := &haredisv1.RedisFailover{}
	rf.Spec.Auth.PasswordGracePeriod = &metav1.Duration{Duration: 10 * time.Minute}
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	user := func(pw string) acl.DeclaredUser {
		return acl.DeclaredUser{Name: "worker", Rules: "~q:* +@all", PasswordHash: acl.Hash(pw)}
	}

	if got := r.rotate(rf, user("a"), acl.DeclaredUser{}, now); got.PreviousHash != "" {
		t.Errorf("a new user has a previous password: %+v", got)
	}
	changed := r.rotate(rf, user("b"), user("a"), now)
	if changed.PasswordHash != acl.Hash("b") || changed.PreviousHash != acl.Hash("a") || changed.PreviousUntil != "2026-12-03T12:10:00Z" {
		t.Fatalf("after a change: %+v, want b in force and a until 12:10", changed)
	}
	if got := r.rotate(rf, user("b"), changed, now.Add(9*time.Minute)); got.PreviousHash != acl.Hash("a") {
		t.Errorf("within the grace period the previous password went: %+v", got)
	}
	if got := r.rotate(rf, user("b"), changed, now.Add(10*time.Minute)); got.PreviousHash != "" || got.PreviousUntil != "" {
		t.Errorf("after the grace period the previous password stays: %+v", got)
	}
	again := r.rotate(rf, user("c"), changed, now.Add(time.Minute))
	if again.PreviousHash != acl.Hash("b") || again.PreviousUntil != "2026-12-03T12:11:00Z" {
		t.Errorf("a second change: %+v, want b accepted until 12:11 and a gone", again)
	}
	rf.Spec.Auth.PasswordGracePeriod = &metav1.Duration{}
	if got := r.rotate(rf, user("d"), user("c"), now); got.PreviousHash != "" {
		t.Errorf("with a grace period of 0s the previous password stays: %+v", got)
	}
}
