package plugin

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/specs"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("cannot read golden file (run make test-update-golden): %v", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("output differs from %s (-want +got); run make test-update-golden if intended:\n%s", path, diff)
	}
}

// now is the clock of every golden file.
var now = time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)

func at(ago time.Duration) metav1.Time { return metav1.NewTime(now.Add(-ago)) }

const testPassword = "c2VjcmV0LW5vdC1yZWFs"

// readyRF is RedisFailover shop/app as the operator reports it when all is
// well: three instances, the second primary after one switchover.
func readyRF() *haredisv1.RedisFailover {
	size := resource.MustParse("1Gi")
	rf := &haredisv1.RedisFailover{
		ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "shop", UID: "3f2a9c1d-0000-4000-8000-000000000001", Generation: 3},
		Spec: haredisv1.RedisFailoverSpec{
			Redis: haredisv1.RedisSpec{
				Image: "valkey/valkey:8.0", Replicas: 3, Persistence: haredisv1.PersistenceAOF,
				Storage: haredisv1.StorageSpec{Size: &size},
			},
			Sentinel: haredisv1.SentinelSpec{Replicas: 3},
			Proxy:    haredisv1.ProxySpec{Enabled: ptr.To(true), Replicas: 2},
			Auth:     haredisv1.AuthSpec{Enabled: ptr.To(true)},
		},
	}
	rf.Status = haredisv1.RedisFailoverStatus{
		ObservedGeneration: 3, Phase: haredisv1.PhaseReady,
		CurrentPrimary: "app-2", TargetPrimary: "app-2", MasterName: rf.MasterName(),
		ReadyInstances: 3, ReadyProxies: 2, Endpoints: specs.Endpoints(rf),
		FailoverCount: 1, LastFailoverTime: ptr.To(at(3 * time.Hour)),
		LastSwitchover: &haredisv1.SwitchoverStatus{
			From: "app-1", To: "app-2", Reason: haredisv1.SwitchoverRequested, Result: haredisv1.SwitchoverSucceeded,
			Message: "switched over from app-1 to app-2 in 1.4s", StartTime: ptr.To(at(3*time.Hour + 2*time.Second)), EndTime: ptr.To(at(3 * time.Hour)),
			WritesHeldMilliseconds: 260,
		},
		SentinelViews: []haredisv1.SentinelView{
			{Name: "app-sentinel-1", Primary: "app-2", ConfigEpoch: 2},
			{Name: "app-sentinel-2", Primary: "app-2", ConfigEpoch: 2},
			{Name: "app-sentinel-3", Primary: "app-2", ConfigEpoch: 2},
		},
		Instances: []haredisv1.InstanceStatus{
			{Name: "app-1", Role: haredisv1.RoleReplica, Ready: true, ReplicationOffset: 1048576, LagBytes: 0, Storage: "1Gi", StorageUsedPercent: ptr.To[int32](23), Server: "valkey 8.0.1"},
			{Name: "app-2", Role: haredisv1.RolePrimary, Ready: true, ReplicationOffset: 1048576, Storage: "1Gi", StorageUsedPercent: ptr.To[int32](24), Server: "valkey 8.0.1"},
			{Name: "app-3", Role: haredisv1.RoleReplica, Ready: true, ReplicationOffset: 1046528, LagBytes: 2048, Storage: "1Gi", StorageUsedPercent: ptr.To[int32](86), Server: "valkey 8.0.1"},
		},
		Conditions: []metav1.Condition{
			{Type: haredisv1.ConditionAuthDisabled, Status: metav1.ConditionFalse, Reason: haredisv1.ReasonAuthEnabled, Message: "clients authenticate with the password of Secret app-auth", LastTransitionTime: at(50 * time.Hour)},
			{Type: haredisv1.ConditionReady, Status: metav1.ConditionTrue, Reason: haredisv1.ReasonReady, Message: "the primary app-2 takes writes; 2 replicas in sync; 3 sentinels agree", LastTransitionTime: at(3 * time.Hour)},
			{Type: haredisv1.ConditionDegraded, Status: metav1.ConditionFalse, Reason: haredisv1.ReasonNotDegraded, Message: "every instance, sentinel and proxy serves", LastTransitionTime: at(3 * time.Hour)},
			{Type: haredisv1.ConditionFailingOver, Status: metav1.ConditionFalse, Reason: haredisv1.ReasonStable, Message: "the sentinels agree on app-2", LastTransitionTime: at(3 * time.Hour)},
			{Type: haredisv1.ConditionProgressing, Status: metav1.ConditionFalse, Reason: haredisv1.ReasonIdle, Message: "nothing under way", LastTransitionTime: at(3 * time.Hour)},
		},
	}
	return rf
}

// failingOverRF is readyRF while the sentinels elect a new primary after
// app-2 died.
func failingOverRF() *haredisv1.RedisFailover {
	rf := readyRF()
	rf.Status.Phase = haredisv1.PhaseFailingOver
	rf.Status.ReadyInstances = 2
	rf.Status.Instances[1].Ready = false
	rf.Status.Instances[1].Role = haredisv1.RoleUnknown
	set := func(c metav1.Condition) {
		for i := range rf.Status.Conditions {
			if rf.Status.Conditions[i].Type == c.Type {
				c.LastTransitionTime = at(2 * time.Second)
				rf.Status.Conditions[i] = c
			}
		}
	}
	set(metav1.Condition{Type: haredisv1.ConditionReady, Status: metav1.ConditionFalse, Reason: haredisv1.ReasonPrimaryUnavailable, Message: "the primary app-2 does not answer. The sentinels may promote app-1 or app-3"})
	set(metav1.Condition{Type: haredisv1.ConditionDegraded, Status: metav1.ConditionTrue, Reason: haredisv1.ReasonWritesNotAccepted, Message: "the primary app-2 does not answer"})
	set(metav1.Condition{Type: haredisv1.ConditionFailingOver, Status: metav1.ConditionTrue, Reason: haredisv1.ReasonPrimaryDown, Message: "2 of 3 sentinels see app-2 down. A failover starts once they agree"})
	rf.Status.SentinelViews[0].ConfigEpoch = 3
	rf.Status.SentinelViews[2] = haredisv1.SentinelView{Name: "app-sentinel-3", Problem: "did not answer"}
	rf.Status.Conditions = append(rf.Status.Conditions, metav1.Condition{Type: haredisv1.ConditionConfigInvalid, Status: metav1.ConditionTrue, Reason: haredisv1.ReasonRedisRefusedConfig,
		Message: "app-1: Invalid argument 'sometimes' for CONFIG SET 'maxmemory-policy'", LastTransitionTime: at(time.Hour)})
	return rf
}

// waitingRF has just been created: the primary waits for its peers.
func waitingRF() *haredisv1.RedisFailover {
	rf := readyRF()
	rf.Status = haredisv1.RedisFailoverStatus{
		Phase: haredisv1.PhaseCreating, CurrentPrimary: "app-1", TargetPrimary: "app-1", MasterName: rf.MasterName(), Endpoints: specs.Endpoints(rf),
		Conditions: []metav1.Condition{
			{Type: haredisv1.ConditionReady, Status: metav1.ConditionFalse, Reason: haredisv1.ReasonPrimaryWaiting, Message: "app-1 keeps redis-server stopped for 4s: it waits for app-2 and app-3, which may hold newer data", LastTransitionTime: at(4 * time.Second)},
			{Type: haredisv1.ConditionDegraded, Status: metav1.ConditionTrue, Reason: haredisv1.ReasonWritesNotAccepted, Message: "app-1 keeps redis-server stopped", LastTransitionTime: at(4 * time.Second)},
		},
	}
	return rf
}

func noAuthRF() *haredisv1.RedisFailover {
	rf := readyRF()
	rf.Spec.Auth.Enabled = ptr.To(false)
	return rf
}

func pod(name, component, node string, ready bool, restarts int32) *corev1.Pod {
	rf := readyRF()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: rf.Namespace, Labels: specs.Labels(rf, component)},
		Spec:       corev1.PodSpec{NodeName: node},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: component, RestartCount: restarts}}},
	}
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}
	return p
}

func node(name, zone string) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelTopologyZone: zone}}}
}

// cluster is the objects of rf: its connection Secret, pods and nodes.
func cluster(rf *haredisv1.RedisFailover) []client.Object {
	pw := testPassword
	if !rf.AuthEnabled() {
		pw = ""
	}
	ready := map[string]bool{}
	for _, is := range rf.Status.Instances {
		ready[is.Name] = is.Ready
	}
	// While failing over, the dead primary's pod and a sentinel on its
	// node are not ready.
	failing := rf.Status.Phase == haredisv1.PhaseFailingOver
	objs := []client.Object{rf, specs.ConnectionSecret(rf, pw, nil),
		node("bed-1", "zone-a"), node("bed-2", "zone-b"), node("bed-3", "zone-c"),
		pod("app-1", specs.ComponentRedis, "bed-1", ready["app-1"], 0),
		pod("app-2", specs.ComponentRedis, "bed-2", ready["app-2"], 1),
		pod("app-3", specs.ComponentRedis, "bed-3", ready["app-3"], 0),
		pod("app-sentinel-1", specs.ComponentSentinel, "bed-1", true, 0),
		pod("app-sentinel-2", specs.ComponentSentinel, "bed-2", !failing, 3),
		pod("app-sentinel-3", specs.ComponentSentinel, "bed-3", true, 0),
		pod("app-proxy-7d9f8c6b5-abcde", specs.ComponentProxy, "bed-1", true, 0),
		pod("app-proxy-7d9f8c6b5-fghij", specs.ComponentProxy, "bed-3", true, 0),
	}
	return objs
}

func fakeClient(t *testing.T, objs ...client.Object) client.Client {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := haredisv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	return fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).WithStatusSubresource(&haredisv1.RedisFailover{}).Build()
}

// run calls a verb with captured streams and returns what it printed.
func run(t *testing.T, verb func(genericiooptions.IOStreams) error) (out, errOut string, err error) {
	t.Helper()
	var o, e bytes.Buffer
	err = verb(genericiooptions.IOStreams{Out: &o, ErrOut: &e})
	return o.String(), e.String(), err
}

var ctx = context.Background()
