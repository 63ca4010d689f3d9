package specs

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/instanceconfig"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var testOpts = Options{OperatorImage: "haredis/haredis:dev", ImagePullPolicy: "IfNotPresent", OperatorNamespace: "haredis-system"}

// defaulted is a RedisFailover as the API server returns it after the
// schema's defaults.
func defaulted() *haredisv1.RedisFailover {
	size := resource.MustParse("1Gi")
	return &haredisv1.RedisFailover{
		ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "shop", UID: "3f2a9c1d-0000-4000-8000-000000000001", Generation: 4},
		Spec: haredisv1.RedisFailoverSpec{
			Redis: haredisv1.RedisSpec{
				Image: "redis:7.0", Replicas: 3, Persistence: haredisv1.PersistenceAOF,
				Storage: haredisv1.StorageSpec{Size: &size},
				Config:  map[string]haredisv1.ConfigValue{"notify-keyspace-events": "gxE"},
			},
			Sentinel: haredisv1.SentinelSpec{
				Replicas:        3,
				DownAfter:       &metav1.Duration{Duration: time.Second},
				FailoverTimeout: &metav1.Duration{Duration: 30 * time.Second},
			},
			Proxy: haredisv1.ProxySpec{Enabled: ptr.To(true), Replicas: 2},
			Auth:  haredisv1.AuthSpec{Enabled: ptr.To(true)},
		},
		// Created with Redis users.
		Status: haredisv1.RedisFailoverStatus{ACLUsers: true},
	}
}

func customised() *haredisv1.RedisFailover {
	rf := defaulted()
	rf.Name, rf.Namespace = "cache", "team-a"
	rf.Spec.Redis.Replicas = 2
	rf.Spec.Redis.Persistence = haredisv1.PersistenceNone
	rf.Spec.Redis.Config = nil
	rf.Spec.Redis.Storage.StorageClassName = ptr.To("fast")
	rf.Spec.Redis.Storage.KeepAfterDeletion = ptr.To(false)
	rf.Spec.Redis.Resources = corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")}}
	rf.Spec.Redis.NodeSelector = map[string]string{"disk": "ssd"}
	rf.Spec.Redis.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
		NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "pool", Operator: corev1.NodeSelectorOpIn, Values: []string{"redis"}}}}},
	}}}
	rf.Spec.Sentinel.Image = "redis:7.2"
	rf.Spec.Sentinel.Replicas = 5
	rf.Spec.Auth.Enabled = ptr.To(false)
	rf.Spec.Proxy.Enabled = ptr.To(false)
	rf.Spec.NetworkPolicy.Clients = []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "payments"}}}}
	rf.Spec.NetworkPolicy.Metrics = []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/8"}}}
	rf.Spec.Durability = haredisv1.DurabilitySpec{MinReplicasToWrite: ptr.To[int32](0), MaxLag: &metav1.Duration{Duration: 5 * time.Second}}
	rf.Status.CurrentPrimary = "cache-2"
	return rf
}

func ownPassword() *haredisv1.RedisFailover {
	rf := defaulted()
	rf.Spec.Auth.PasswordSecret = &haredisv1.SecretKeySelector{Name: "my-redis-password", Key: "pw"}
	return rf
}

// withTLS has spec.tls on, with the certificate issued by haredis.
func withTLS() *haredisv1.RedisFailover {
	rf := defaulted()
	rf.Spec.TLS = &haredisv1.TLSSpec{Enabled: true}
	return rf
}

// everything renders all objects of a RedisFailover as one YAML stream.
func everything(t *testing.T, rf *haredisv1.RedisFailover, password string, pool *haredisv1.SentinelPool) string {
	t.Helper()
	var objs []any
	if pool != nil {
		// The pool's own objects first, then the RedisFailover's on it.
		objs = append(objs, PoolSecret(pool, "pool-secret-not-real"), PoolPDB(pool))
		for _, s := range PoolServices(pool) {
			objs = append(objs, s)
		}
		for i := 1; i <= int(pool.Spec.Replicas); i++ {
			objs = append(objs, PoolSentinelPod(pool, pool.SentinelName(i), testOpts))
		}
	}
	for _, s := range Services(rf) {
		objs = append(objs, s)
	}
	var names []string
	for i := 1; i <= int(rf.Spec.Redis.Replicas); i++ {
		names = append(names, rf.InstanceName(i))
	}
	cm, err := InstanceConfigMap(rf, InstanceConfig(rf, names, pool))
	if err != nil {
		t.Fatal(err)
	}
	objs = append(objs, cm)
	if rf.AuthEnabled() && rf.Spec.Auth.PasswordSecret == nil {
		objs = append(objs, AuthSecret(rf, password))
	}
	var caPEM []byte
	if rf.TLSEnabled() {
		caPEM = []byte("-----BEGIN CERTIFICATE-----\nnot a real CA\n-----END CERTIFICATE-----\n")
	}
	objs = append(objs, ConnectionSecret(rf, password, caPEM))
	for _, p := range PodDisruptionBudgets(rf) {
		objs = append(objs, p)
	}
	objs = append(objs, ServiceAccount(rf), Role(rf), RoleBinding(rf))
	if rf.NetworkPolicyEnabled() {
		for _, p := range NetworkPolicies(rf, testOpts) {
			objs = append(objs, p)
		}
	}
	for i, n := range names {
		role := haredisv1.RoleReplica
		if i == 0 {
			role = haredisv1.RolePrimary
		}
		objs = append(objs, InstancePVC(rf, n), InstancePod(rf, n, role, testOpts))
	}
	for i := 1; i <= int(rf.Spec.Sentinel.Replicas) && pool == nil; i++ {
		objs = append(objs, SentinelPod(rf, rf.SentinelName(i), testOpts))
	}
	if rf.ProxyEnabled() {
		objs = append(objs, ProxyDeployment(rf, testOpts), ProxyPodDisruptionBudget(rf))
	}
	var b strings.Builder
	for _, o := range objs {
		y, err := yaml.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("---\n")
		b.Write(y)
	}
	return b.String()
}

func TestGolden(t *testing.T) {
	cases := map[string]struct {
		rf       *haredisv1.RedisFailover
		password string
		pool     *haredisv1.SentinelPool
	}{
		"defaults":     {rf: defaulted(), password: "s3cret-not-real"},
		"customised":   {rf: customised()},
		"own-password": {rf: ownPassword(), password: "from-user-secret"},
		"tls":          {rf: withTLS(), password: "s3cret-not-real"},
		"pool":         {rf: onPool(), password: "s3cret-not-real", pool: sharedPool()},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := everything(t, tc.rf, tc.password, tc.pool)
			path := filepath.Join("testdata", name+".yaml")
			if *update {
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
				t.Errorf("objects differ from %s (-want +got); run make test-update-golden if intended:\n%s", path, diff)
			}
		})
	}
}

func TestInstanceConfigParsesBack(t *testing.T) {
	cases := map[string]struct {
		rf   *haredisv1.RedisFailover
		want instanceconfig.Config
	}{
		"defaults": {rf: defaulted(), want: instanceconfig.Config{
			ClusterName: "app", MasterName: "shop.app.3f2a9c1d0000",
			Instances:    []string{"app-1", "app-2"},
			HostTemplate: "{name}.app-headless.shop.svc.cluster.local",
			Sentinels: []string{
				"app-sentinel-1.app-sentinel-headless.shop.svc.cluster.local:26379",
				"app-sentinel-2.app-sentinel-headless.shop.svc.cluster.local:26379",
				"app-sentinel-3.app-sentinel-headless.shop.svc.cluster.local:26379",
			},
			SentinelAuthEnabled: true, Persistence: "AOF",
			Config: map[string]string{"notify-keyspace-events": "gxE"}, ConfigGeneration: 4,
			MinReplicasToWrite: 1, MinReplicasMaxLagSeconds: 10, AuthEnabled: true, ACLUsers: true, InitialPrimary: "app-1",
		}},
		"recorded primary, no auth, explicit durability": {rf: customised(), want: instanceconfig.Config{
			ClusterName: "cache", MasterName: "team-a.cache.3f2a9c1d0000",
			Instances:    []string{"cache-1", "cache-2"},
			HostTemplate: "{name}.cache-headless.team-a.svc.cluster.local",
			Sentinels: []string{
				"cache-sentinel-1.cache-sentinel-headless.team-a.svc.cluster.local:26379",
				"cache-sentinel-2.cache-sentinel-headless.team-a.svc.cluster.local:26379",
				"cache-sentinel-3.cache-sentinel-headless.team-a.svc.cluster.local:26379",
				"cache-sentinel-4.cache-sentinel-headless.team-a.svc.cluster.local:26379",
				"cache-sentinel-5.cache-sentinel-headless.team-a.svc.cluster.local:26379",
			},
			Persistence: "None", ConfigGeneration: 4, MinReplicasMaxLagSeconds: 5, InitialPrimary: "cache-2",
		}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			names := []string{tc.rf.InstanceName(1), tc.rf.InstanceName(2)}
			cm, err := InstanceConfigMap(tc.rf, InstanceConfig(tc.rf, names, nil))
			if err != nil {
				t.Fatal(err)
			}
			got, err := instanceconfig.Parse([]byte(cm.Data[InstanceConfigKey]))
			if err != nil {
				t.Fatalf("the instance manager would refuse the file: %v", err)
			}
			if diff := cmp.Diff(tc.want, *got); diff != "" {
				t.Errorf("instance.json (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPVCHasNoOwner(t *testing.T) {
	pvc := InstancePVC(defaulted(), "app-1")
	if len(pvc.OwnerReferences) != 0 {
		t.Errorf("PVC has owner references %v; only the finalizer may delete it (safety rule 6)", pvc.OwnerReferences)
	}
}

func TestServiceNameSelectsTheProxyWhenEnabled(t *testing.T) {
	for enabled, want := range map[bool]map[string]string{
		true:  {LabelInstance: "app", LabelComponent: ComponentProxy},
		false: {LabelInstance: "app", LabelComponent: ComponentRedis, haredisv1.LabelRole: "primary"},
	} {
		rf := defaulted()
		rf.Spec.Proxy.Enabled = ptr.To(enabled)
		got := Services(rf)[0].Spec.Selector
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("proxy enabled=%v: selector of Service app (-want +got):\n%s", enabled, diff)
		}
	}
}

func TestConnectionSecret(t *testing.T) {
	s := ConnectionSecret(defaulted(), "pa/ss", nil)
	got := map[string]string{}
	for k, v := range s.Data {
		got[k] = string(v)
	}
	want := map[string]string{
		ConnURL:         "redis://default:pa%2Fss@app.shop.svc.cluster.local:6379",
		ConnSentinelURL: "redis+sentinel://:pa%2Fss@app-sentinel.shop.svc.cluster.local:26379/shop.app.3f2a9c1d0000",
		ConnHost:        "app.shop.svc.cluster.local",
		ConnPort:        "6379",
		ConnPassword:    "pa/ss",
		ConnMasterName:  "shop.app.3f2a9c1d0000",
		ConnSentinels:   "app-sentinel.shop.svc.cluster.local:26379",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("connection secret (-want +got):\n%s", diff)
	}
}

func TestConnectionSecretWithTLS(t *testing.T) {
	s := ConnectionSecret(withTLS(), "pw", []byte("the CA"))
	if got := string(s.Data[ConnURL]); got != "rediss://default:pw@app.shop.svc.cluster.local:6379" {
		t.Errorf("%s = %s, want a rediss:// URL", ConnURL, got)
	}
	if got := string(s.Data[ConnSentinelURL]); !strings.HasPrefix(got, "rediss+sentinel://") {
		t.Errorf("%s = %s, want a rediss+sentinel:// URL", ConnSentinelURL, got)
	}
	if got := string(s.Data[ConnCA]); got != "the CA" {
		t.Errorf("%s = %q, want the CA", ConnCA, got)
	}
}

func TestTLSNamesCoverEveryService(t *testing.T) {
	names := TLSNames(withTLS())
	for _, want := range []string{"app.shop.svc.cluster.local", "app-primary.shop.svc", "app-replicas.shop", "app-sentinel",
		"*.app-headless.shop.svc.cluster.local", "*.app-sentinel-headless.shop.svc.cluster.local"} {
		if !slices.Contains(names, want) {
			t.Errorf("TLSNames lacks %s: %v", want, names)
		}
	}
}

func TestGeneratePassword(t *testing.T) {
	a, err := GeneratePassword()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := GeneratePassword()
	if a == b || len(a) < 40 {
		t.Errorf("passwords %q and %q: want two different passwords of at least 40 characters", a, b)
	}
}

// TestNetworkPoliciesKeepTheManagerAPIInside: with the defaults (clients
// and metrics from anywhere), anyone reaches the client and metrics ports,
// and only the RedisFailover's own pods and the operator reach the instance
// managers' API and the proxy's admin port... which metrics scrapers reach
// too, its other endpoints needing the proxy's token.
func TestNetworkPoliciesKeepTheManagerAPIInside(t *testing.T) {
	open := map[string][]int32{}
	inside := map[string][]int32{}
	for _, p := range NetworkPolicies(defaulted(), Options{}) {
		if got := p.Spec.PodSelector.MatchLabels[LabelComponent]; p.Name != "app-"+got {
			t.Errorf("NetworkPolicy %s selects component %q", p.Name, got)
		}
		for _, r := range p.Spec.Ingress {
			for _, port := range r.Ports {
				if len(r.From) == 0 {
					open[p.Name] = append(open[p.Name], port.Port.IntVal)
					continue
				}
				inside[p.Name] = append(inside[p.Name], port.Port.IntVal)
			}
			for _, f := range r.From {
				if f.PodSelector == nil {
					t.Errorf("%s admits a peer without a pod selector: %+v", p.Name, f)
					continue
				}
				if f.PodSelector.MatchLabels[LabelComponent] == OperatorComponentLabel {
					if f.NamespaceSelector == nil || len(f.NamespaceSelector.MatchLabels) != 0 {
						t.Errorf("%s: the operator's namespace is unknown, want any namespace, got %+v", p.Name, f.NamespaceSelector)
					}
				}
			}
		}
	}
	want := map[string][]int32{"app-redis": {RedisPort, InstanceMetricsPort}, "app-sentinel": {SentinelPort}, "app-proxy": {RedisPort, ProxyAdminPort}}
	if diff := cmp.Diff(want, open); diff != "" {
		t.Errorf("ports open to anyone (-want +got):\n%s", diff)
	}
	wantInside := map[string][]int32{"app-redis": {RedisPort, StatusPort, InstanceMetricsPort}, "app-sentinel": {SentinelPort}, "app-proxy": {RedisPort, ProxyAdminPort}}
	if diff := cmp.Diff(wantInside, inside); diff != "" {
		t.Errorf("ports open to the RedisFailover's pods and the operator (-want +got):\n%s", diff)
	}
}

// sharedPool is a SentinelPool of three sentinels in namespace shared that
// admits namespaces labelled tier=cache.
func sharedPool() *haredisv1.SentinelPool {
	sp := &haredisv1.SentinelPool{ObjectMeta: metav1.ObjectMeta{Name: "pool", Namespace: "shared", UID: "8d0c0c55-0000-4000-8000-000000000002"}}
	sp.Spec.Replicas = 3
	sp.Spec.Image = "valkey/valkey:8.0"
	sp.Spec.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "cache"}}
	return sp
}

// onPool is the defaulted RedisFailover in charge of sharedPool.
func onPool() *haredisv1.RedisFailover {
	rf := defaulted()
	rf.Spec.Sentinel.PoolRef = &haredisv1.SentinelPoolReference{Name: "pool", Namespace: "shared"}
	rf.Status.SentinelPool = "shared/pool"
	return rf
}
