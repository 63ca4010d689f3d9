package plugin

import (
	"bytes"
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	haredisv1 "github.com/haredis/haredis/api/v1"
)

func TestBackupCreatesARedisBackup(t *testing.T) {
	ctx := context.Background()
	with := &haredisv1.RedisFailover{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "app"},
		Spec: haredisv1.RedisFailoverSpec{Backup: &haredisv1.BackupSpec{ObjectStore: haredisv1.ObjectStore{Endpoint: "https://s3", Bucket: "b"}}}}
	without := &haredisv1.RedisFailover{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "plain"}}
	c := fakeClient(t, with, without)
	var out bytes.Buffer
	if err := Backup(ctx, c, &out, "shop", "app", "app-1", 0); err != nil {
		t.Fatal(err)
	}
	rb := &haredisv1.RedisBackup{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "app-1"}, rb); err != nil || rb.Spec.Failover.Name != "app" {
		t.Fatalf("RedisBackup: %+v, %v", rb.Spec, err)
	}
	if err := Backup(ctx, c, &out, "shop", "app", "app-1", 0); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("a second backup of the same name: %v", err)
	}
	if err := Backup(ctx, c, &out, "shop", "plain", "plain-1", 0); err == nil || !strings.Contains(err.Error(), "spec.backup.objectStore") {
		t.Errorf("a RedisFailover without a store: %v", err)
	}
}

func TestRestoreManifestCopiesTheSpecWithoutScheduleOrPassword(t *testing.T) {
	ctx := context.Background()
	src := &haredisv1.RedisFailover{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "app"},
		Spec: haredisv1.RedisFailoverSpec{
			Redis:  haredisv1.RedisSpec{Replicas: 5, Image: "redis:7.2"},
			Auth:   haredisv1.AuthSpec{PasswordSecret: &haredisv1.SecretKeySelector{Name: "pw", Key: "password"}},
			Backup: &haredisv1.BackupSpec{ObjectStore: haredisv1.ObjectStore{Endpoint: "https://s3", Bucket: "b"}, Schedule: "@daily"},
		}}
	done := &haredisv1.RedisBackup{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "nightly"},
		Spec: haredisv1.RedisBackupSpec{Failover: haredisv1.LocalObjectReference{Name: "app"}}}
	done.Status.Phase = haredisv1.BackupCompleted
	running := done.DeepCopy()
	running.Name, running.Status.Phase = "now", haredisv1.BackupRunning
	c := fakeClient(t, src, done, running)
	rf, err := RestoreManifest(ctx, c, "shop", "nightly", "app-restored")
	if err != nil {
		t.Fatal(err)
	}
	if rf.Name != "app-restored" || rf.Spec.Redis.Replicas != 5 || rf.Spec.Redis.Image != "redis:7.2" ||
		rf.Spec.Bootstrap == nil || rf.Spec.Bootstrap.FromBackup.Name != "nightly" ||
		rf.Spec.Backup.Schedule != "" || rf.Spec.Auth.PasswordSecret != nil {
		t.Errorf("manifest spec %+v", rf.Spec)
	}
	if src.Spec.Backup.Schedule != "@daily" {
		t.Error("the source's spec was changed")
	}
	if _, err := RestoreManifest(ctx, c, "shop", "now", "x"); err == nil || !strings.Contains(err.Error(), "not Completed") {
		t.Errorf("a running backup: %v", err)
	}
	if _, err := RestoreManifest(ctx, c, "shop", "nothing", "x"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("a missing backup: %v", err)
	}
}
