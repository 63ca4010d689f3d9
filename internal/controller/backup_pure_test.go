package controller

import (
	"net/url"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	haredisv1 "github.com/haredis/haredis/api/v1"
)

func TestBackupSourcePrefersTheReplicaInSyncWithLeastLag(t *testing.T) {
	rf := &haredisv1.RedisFailover{ObjectMeta: metav1.ObjectMeta{Name: "app"}}
	rf.Status.CurrentPrimary = "app-1"
	in := func(name string, role haredisv1.Role, ready bool, lag int64) haredisv1.InstanceStatus {
		return haredisv1.InstanceStatus{Name: name, Role: role, Ready: ready, LagBytes: lag}
	}
	for _, tc := range []struct {
		name      string
		instances []haredisv1.InstanceStatus
		want      string
		role      haredisv1.Role
	}{
		{"least lag", []haredisv1.InstanceStatus{in("app-1", "primary", true, 0), in("app-2", "replica", true, 900), in("app-3", "replica", true, 10)}, "app-3", "replica"},
		{"a replica not in sync is skipped", []haredisv1.InstanceStatus{in("app-1", "primary", true, 0), in("app-2", "replica", false, 0), in("app-3", "replica", true, 50)}, "app-3", "replica"},
		{"no replica in sync: the primary", []haredisv1.InstanceStatus{in("app-1", "primary", true, 0), in("app-2", "replica", false, 0)}, "app-1", "primary"},
		{"nothing ready", []haredisv1.InstanceStatus{in("app-1", "primary", false, 0), in("app-2", "replica", false, 0)}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rf.Status.Instances = tc.instances
			got, role, err := backupSource(rf)
			if got != tc.want || role != tc.role || (tc.want == "") != (err != nil) {
				t.Errorf("backupSource = %q %q %v, want %q %q", got, role, err, tc.want, tc.role)
			}
		})
	}
}

func TestExpiredBackups(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	b := func(name string, age time.Duration, phase haredisv1.BackupPhase, scheduled bool) haredisv1.RedisBackup {
		rb := haredisv1.RedisBackup{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(now.Add(-age))}}
		if scheduled {
			rb.Labels = map[string]string{haredisv1.LabelScheduled: "true"}
		}
		rb.Status.Phase = phase
		return rb
	}
	mine := []haredisv1.RedisBackup{
		b("c1", 1*time.Hour, haredisv1.BackupCompleted, true),
		b("c2", 25*time.Hour, haredisv1.BackupCompleted, true),
		b("c3", 49*time.Hour, haredisv1.BackupCompleted, true),
		b("f-old", 30*time.Hour, haredisv1.BackupFailed, true),
		b("f-new", 10*time.Minute, haredisv1.BackupFailed, true),
		b("running", 2*time.Minute, haredisv1.BackupRunning, true),
		b("manual", 100*time.Hour, haredisv1.BackupCompleted, false),
	}
	names := func(bs []haredisv1.RedisBackup) map[string]bool {
		m := map[string]bool{}
		for _, x := range bs {
			m[x.Name] = true
		}
		return m
	}
	rf := &haredisv1.RedisFailover{Spec: haredisv1.RedisFailoverSpec{Backup: &haredisv1.BackupSpec{Keep: 2}}}
	got := names(expiredBackups(rf, mine, now))
	if len(got) != 2 || !got["c3"] || !got["f-old"] {
		t.Errorf("keep 2: expired %v, want c3 and f-old", got)
	}
	rf.Spec.Backup.Keep, rf.Spec.Backup.MaxAge = 10, &metav1.Duration{Duration: 24 * time.Hour}
	got = names(expiredBackups(rf, mine, now))
	if len(got) != 3 || !got["c2"] || !got["c3"] || !got["f-old"] {
		t.Errorf("maxAge 24h: expired %v, want c2, c3, f-old", got)
	}
	// The newest completed backup is kept however old.
	rf.Spec.Backup.MaxAge = &metav1.Duration{Duration: time.Minute}
	if got := names(expiredBackups(rf, mine, now)); got["c1"] {
		t.Errorf("the newest completed backup expired: %v", got)
	}
}

func TestSignedURLValidity(t *testing.T) {
	u := "http://s3.ns.svc.cluster.local:9000/bucket/prod/ns/app/backups/b-1.rdb?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20261202T100000Z&X-Amz-Expires=86400&X-Amz-Signature=abc"
	if got, want := signedUntil(u), time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("signedUntil = %v, want %v", got, want)
	}
	store := haredisv1.ObjectStore{Endpoint: "http://s3.ns.svc.cluster.local:9000", Bucket: "bucket"}
	if !signedFor(u, store, "prod/ns/app/backups/b-1.rdb") || signedFor(u, store, "prod/ns/app/backups/b-2.rdb") {
		t.Error("signedFor does not tell the object apart")
	}
	if r := redactedURL(u); r != "http://s3.ns.svc.cluster.local:9000/bucket/prod/ns/app/backups/b-1.rdb" {
		t.Errorf("redactedURL = %q", r)
	}
	if _, err := url.Parse(u); err != nil {
		t.Fatal(err)
	}
}
