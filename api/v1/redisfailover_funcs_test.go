package v1

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestMasterNameIsUniquePerObject(t *testing.T) {
	a := &RedisFailover{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "team-a", UID: "5f1c2c7e-0b7a-4a59-9c55-0e8f3f2d2a11"}}
	b := &RedisFailover{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "team-b", UID: "5f1c2c7e-0b7a-4a59-9c55-0e8f3f2d2a11"}}
	recreated := &RedisFailover{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "team-a", UID: "77aa2c7e-0b7a-4a59-9c55-0e8f3f2d2a11"}}
	if got, want := a.MasterName(), "team-a.app.5f1c2c7e0b7a"; got != want {
		t.Errorf("MasterName = %q, want %q", got, want)
	}
	if a.MasterName() == b.MasterName() || a.MasterName() == recreated.MasterName() {
		t.Errorf("master names collide: %q %q %q", a.MasterName(), b.MasterName(), recreated.MasterName())
	}
}

func TestEffectiveDurability(t *testing.T) {
	lag := func(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }
	cases := map[string]struct {
		replicas   int32
		durability DurabilitySpec
		wantMin    int32
		wantMaxLag time.Duration
	}{
		"three instances default to one replica within 10s": {replicas: 3, wantMin: 1, wantMaxLag: 10 * time.Second},
		"two instances default to none":                     {replicas: 2, wantMin: 0, wantMaxLag: 10 * time.Second},
		"one instance defaults to none":                     {replicas: 1, wantMin: 0, wantMaxLag: 10 * time.Second},
		"explicit zero wins over the default":               {replicas: 5, durability: DurabilitySpec{MinReplicasToWrite: ptr.To[int32](0)}, wantMin: 0, wantMaxLag: 10 * time.Second},
		"explicit values":                                   {replicas: 5, durability: DurabilitySpec{MinReplicasToWrite: ptr.To[int32](2), MaxLag: lag(3 * time.Second)}, wantMin: 2, wantMaxLag: 3 * time.Second},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			rf := &RedisFailover{Spec: RedisFailoverSpec{Redis: RedisSpec{Replicas: tc.replicas}, Durability: tc.durability}}
			gotMin, gotLag := rf.EffectiveDurability()
			if gotMin != tc.wantMin || gotLag != tc.wantMaxLag {
				t.Errorf("EffectiveDurability = (%d, %s), want (%d, %s)", gotMin, gotLag, tc.wantMin, tc.wantMaxLag)
			}
		})
	}
}

// TestLiveImportHoldsDurability: a live import holds min-replicas-to-write
// at 0 until its replicas have copied after the cutover; a fence still
// refuses every write.
func TestLiveImportHoldsDurability(t *testing.T) {
	rf := &RedisFailover{Spec: RedisFailoverSpec{Redis: RedisSpec{Replicas: 3},
		Bootstrap: &BootstrapSpec{FromRedis: &RedisSource{Host: "source"}}}}
	for _, st := range []*LiveImportStatus{nil, {Source: "source:6379"}, {CutoverTime: &metav1.Time{Time: time.Now()}}} {
		rf.Status.LiveImport = st
		if m, _ := rf.EffectiveDurability(); m != 0 {
			t.Errorf("liveImport %+v: min-replicas-to-write %d, want 0 until the replicas copied", st, m)
		}
	}
	rf.Status.LiveImport = &LiveImportStatus{CutoverTime: &metav1.Time{Time: time.Now()}, ReplicasInSyncTime: &metav1.Time{Time: time.Now()}}
	if m, _ := rf.EffectiveDurability(); m != 1 {
		t.Errorf("after the replicas copied: min-replicas-to-write %d, want the spec's 1", m)
	}
	rf.Status.LiveImport.ReplicasInSyncTime = nil
	rf.Spec.Fenced = true
	if m, _ := rf.EffectiveDurability(); m != FencedMinReplicasToWrite {
		t.Errorf("fenced during the hold: %d, want %d", m, FencedMinReplicasToWrite)
	}
}

func TestSwitchesDefaultOn(t *testing.T) {
	rf := &RedisFailover{}
	if !rf.AuthEnabled() || !rf.ProxyEnabled() || !rf.KeepVolumes() {
		t.Errorf("auth, proxy and keeping volumes must default to on")
	}
	rf.Spec.Auth.Enabled = ptr.To(false)
	rf.Spec.Proxy.Enabled = ptr.To(false)
	rf.Spec.Redis.Storage.KeepAfterDeletion = ptr.To(false)
	if rf.AuthEnabled() || rf.ProxyEnabled() || rf.KeepVolumes() {
		t.Errorf("explicit false must turn them off")
	}
}
