package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	haredisv1 "github.com/haredis/haredis/api/v1"
)

// newRF builds an unstructured RedisFailover from a YAML spec, so that tests
// can send values the Go types could never hold (malformed quantities, ...).
func newRF(t *testing.T, name, specYAML string) *unstructured.Unstructured {
	t.Helper()
	spec := map[string]any{}
	if err := yaml.Unmarshal([]byte(specYAML), &spec); err != nil {
		t.Fatalf("bad test YAML: %v", err)
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": haredisv1.GroupVersion.String(),
		"kind":       "RedisFailover",
		"metadata":   map[string]any{"name": name, "namespace": "default"},
		"spec":       spec,
	}}
	return u
}

func TestDefaultsAreVisibleAfterApply(t *testing.T) {
	ctx := context.Background()
	rf := &haredisv1.RedisFailover{ObjectMeta: metav1.ObjectMeta{Name: "defaults", Namespace: "default"}}
	if err := k8sClient.Create(ctx, rf); err != nil {
		t.Fatalf("a RedisFailover with an empty spec must be accepted: %v", err)
	}
	t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), rf) })

	got := &haredisv1.RedisFailover{}
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(rf), got); err != nil {
		t.Fatalf("cannot read it back: %v", err)
	}
	want := haredisv1.RedisFailoverSpec{
		Redis: haredisv1.RedisSpec{
			Image:       "valkey/valkey:8.0",
			Replicas:    3,
			Persistence: haredisv1.PersistenceAOF,
			Storage:     haredisv1.StorageSpec{Size: ptr.To(resource.MustParse("1Gi")), KeepAfterDeletion: ptr.To(true)},
		},
		Sentinel: haredisv1.SentinelSpec{
			Replicas:        3,
			DownAfter:       &metav1.Duration{Duration: time.Second},
			FailoverTimeout: &metav1.Duration{Duration: 10 * time.Second},
		},
		Proxy:         haredisv1.ProxySpec{Enabled: ptr.To(true), Replicas: 2},
		Auth:          haredisv1.AuthSpec{Enabled: ptr.To(true)},
		NetworkPolicy: haredisv1.NetworkPolicySpec{Enabled: ptr.To(true)},
	}
	if diff := cmp.Diff(want, got.Spec); diff != "" {
		t.Errorf("defaults after apply (-want +got):\n%s", diff)
	}
}

func TestValidObjectsAreAccepted(t *testing.T) {
	cases := map[string]string{
		"a full spec": `
redis:
  image: redis:7.0.15
  replicas: 5
  persistence: RDB
  storage: {size: 2Gi, storageClassName: standard, keepAfterDeletion: false}
  resources: {requests: {memory: 256Mi, cpu: 100m}}
  config: {notify-keyspace-events: gxE, maxmemory-policy: allkeys-lru, maxmemory: 100mb}
sentinel: {replicas: 5, downAfter: 1500ms, failoverTimeout: 1m30s}
proxy: {enabled: false}
auth: {enabled: true, passwordSecret: {name: my-secret, key: password}}
durability: {minReplicasToWrite: 2, maxLag: 5s}
backup:
  schedule: "0 3 * * *"
  keep: 3
  objectStore: {endpoint: "http://s3.local:9000", bucket: backups, credentialsSecret: {name: s3}}
`,
		"a single instance":                        `redis: {replicas: 1}`,
		"redis 7.0 by its full name":               `redis: {image: docker.io/library/redis:7.0.15-bookworm}`,
		"valkey 7.2":                               `redis: {image: valkey/valkey:7.2.5}`,
		"an image whose tag tells no version":      `redis: {image: registry.example.com/team/cache:stable}`,
		"a sentinel pool with any replica count":   `sentinel: {replicas: 1, poolRef: {name: shared}}`,
		"a bootstrap with one source":              `bootstrap: {fromBackup: {name: nightly}}`,
		"a bootstrap from an rdb url":              `bootstrap: {fromRDB: {url: "https://files.example/dump.rdb", sha256: "3b1f0c0000000000000000000000000000000000000000000000000000000000"}}`,
		"a live import taking the source password": `{auth: {passwordSecret: {name: src, key: password}}, bootstrap: {fromRedis: {host: old-redis.example, cutover: Automatic}}}`,
		"a live import from a source without auth": `{auth: {enabled: false}, bootstrap: {fromRedis: {host: old-redis.example, port: 6380}}}`,
	}
	for name, spec := range cases {
		t.Run(name, func(t *testing.T) {
			obj := newRF(t, "valid-"+strings.ReplaceAll(name, " ", "-"), spec)
			if err := k8sClient.Create(context.Background(), obj); err != nil {
				t.Fatalf("want accepted, got: %v", err)
			}
			_ = k8sClient.Delete(context.Background(), obj)
		})
	}
}

func TestInvalidObjectsAreRefusedNamingTheField(t *testing.T) {
	longName := strings.Repeat("a", 51)
	cases := map[string]struct {
		name string
		spec string
		// want are substrings of the API server's message: the field and the fix.
		want []string
	}{
		"Redis before 7.0": {
			spec: `redis: {image: redis:6.2.14}`,
			want: []string{"spec.redis.image", "Redis 7.0 and later, Valkey 7.2 and later", "valkey/valkey:8.0"},
		},
		"Valkey before 7.2 for the sentinels": {
			spec: `sentinel: {image: "docker.io/valkey/valkey:7.0"}`,
			want: []string{"spec.sentinel.image", "Redis 7.0 and later, Valkey 7.2 and later"},
		},
		"a password among the application rules": {
			spec: `auth: {applicationRules: "~* +@all >secret"}`,
			want: []string{"spec.auth.applicationRules", "password and state rules", "key (~), channel (&) and command (+/-) rules"},
		},
		"a TLS parameter in the parameter group": {
			spec: `redis: {config: {tls-port: "6380"}}`,
			want: []string{"spec.redis.config", "tls- parameters are set by haredis itself from spec.tls"},
		},
		"the application user turned off": {
			spec: `auth: {applicationRules: "OFF ~* +get"}`,
			want: []string{"spec.auth.applicationRules", "password and state rules"},
		},
		"a declared user named default": {
			spec: `auth: {users: [{name: default, rules: "~* +@read", passwordSecret: {name: s, key: k}}]}`,
			want: []string{"spec.auth.users[].name", "application user", "choose another name"},
		},
		"a declared user with haredis's prefix": {
			spec: `auth: {users: [{name: haredis-admin, rules: "~* +@read", passwordSecret: {name: s, key: k}}]}`,
			want: []string{"spec.auth.users[].name", "haredis's own users"},
		},
		"a password among a declared user's rules": {
			spec: `auth: {users: [{name: worker, rules: "~* +@read >pw", passwordSecret: {name: s, key: k}}]}`,
			want: []string{"spec.auth.users[].rules", "password and state rules"},
		},
		"declared users without auth": {
			spec: `auth: {enabled: false, users: [{name: worker, rules: "~* +@read", passwordSecret: {name: s, key: k}}]}`,
			want: []string{"spec.auth.users", "users need auth"},
		},
		"no instance": {
			spec: `redis: {replicas: 0}`,
			want: []string{"spec.redis.replicas", "at least 1"},
		},
		"an even number of sentinels": {
			spec: `sentinel: {replicas: 4}`,
			want: []string{"spec.sentinel.replicas", "odd and at least 3", "poolRef"},
		},
		"a single sentinel without a pool": {
			spec: `sentinel: {replicas: 1}`,
			want: []string{"spec.sentinel.replicas", "odd and at least 3"},
		},
		"an owned parameter": {
			spec: `redis: {config: {port: "6380"}}`,
			want: []string{"spec.redis.config: port is set by haredis", "remove it from spec.redis.config"},
		},
		"owned parameters in any case": {
			spec: `redis: {config: {Requirepass: x, maxmemory: 1gb, rename-command: "FLUSHALL x"}}`,
			want: []string{"spec.redis.config: rename-command is set by haredis", "spec.redis.config: a parameter that haredis sets itself is given in another case"},
		},
		"a durability parameter": {
			spec: `redis: {config: {min-replicas-to-write: "2"}}`,
			want: []string{"spec.redis.config: min-replicas-to-write", "spec.durability.minReplicasToWrite"},
		},
		"min-replicas-to-write at the instance count": {
			spec: `{redis: {replicas: 3}, durability: {minReplicasToWrite: 3}}`,
			want: []string{"spec.durability.minReplicasToWrite", "must be lower than spec.redis.replicas"},
		},
		"min-replicas-to-write above the default instance count": {
			spec: `durability: {minReplicasToWrite: 5}`,
			want: []string{"spec.durability.minReplicasToWrite", "must be lower than spec.redis.replicas"},
		},
		"a persistence parameter": {
			spec: `redis: {config: {appendonly: "no"}}`,
			want: []string{"spec.redis.config: appendonly", "spec.redis.persistence"},
		},
		"a value with a line break": {
			spec: `redis: {config: {notify-keyspace-events: "gxE\nport 1"}}`,
			want: []string{"spec.redis.config", "on one line"},
		},
		"a malformed storage size": {
			spec: `redis: {storage: {size: lots}}`,
			want: []string{"spec.redis.storage.size", "1Gi"},
		},
		"a zero storage size": {
			spec: `redis: {storage: {size: "0"}}`,
			want: []string{"spec.redis.storage.size", "greater than zero"},
		},
		"a malformed memory request": {
			spec: `redis: {resources: {requests: {memory: much}}}`,
			want: []string{"spec.redis.resources.requests.memory"},
		},
		"an unknown persistence mode": {
			spec: `redis: {persistence: Disk}`,
			want: []string{"spec.redis.persistence", `"AOF"`, `"RDB"`, `"None"`},
		},
		"a malformed duration": {
			spec: `sentinel: {downAfter: soon}`,
			want: []string{"spec.sentinel.downAfter", "500ms, 1s or 1m30s"},
		},
		"a duration in days": {
			spec: `sentinel: {failoverTimeout: 1d}`,
			want: []string{"spec.sentinel.failoverTimeout", "between 1s and 1h"},
		},
		"a too short down-after": {
			spec: `sentinel: {downAfter: 10ms}`,
			want: []string{"spec.sentinel.downAfter", "between 100ms and 10m"},
		},
		"a fractional max lag": {
			spec: `durability: {maxLag: 1500ms}`,
			want: []string{"spec.durability.maxLag", "whole seconds"},
		},
		"a negative min-replicas-to-write": {
			spec: `durability: {minReplicasToWrite: -1}`,
			want: []string{"spec.durability.minReplicasToWrite", "greater than or equal to 0"},
		},
		"two bootstrap sources": {
			spec: `bootstrap: {fromRDB: {url: "https://a/x.rdb"}, fromBackup: {name: b}}`,
			want: []string{"spec.bootstrap", "exactly one of fromBackup, fromRDB or fromRedis"},
		},
		"a live import with a generated password": {
			spec: `bootstrap: {fromRedis: {host: old-redis.example}}`,
			want: []string{"spec.bootstrap.fromRedis", "the source must accept the RedisFailover's password", "spec.auth.passwordSecret"},
		},
		"a live import with an unknown cutover": {
			spec: `{auth: {passwordSecret: {name: s, key: k}}, bootstrap: {fromRedis: {host: old-redis.example, cutover: Now}}}`,
			want: []string{"spec.bootstrap.fromRedis.cutover", "Manual", "Automatic"},
		},
		"an RDB with both a URL and a store": {
			spec: `bootstrap: {fromRDB: {url: "https://a/x.rdb", key: k, objectStore: {endpoint: "http://s3:9000", bucket: bkp}}}`,
			want: []string{"spec.bootstrap.fromRDB", "either url, or objectStore with key"},
		},
		"an RDB store without a key": {
			spec: `bootstrap: {fromRDB: {objectStore: {endpoint: "http://s3:9000", bucket: bkp}}}`,
			want: []string{"spec.bootstrap.fromRDB.key", "required with objectStore"},
		},
		"a checksum that is no SHA-256": {
			spec: `bootstrap: {fromRDB: {url: "https://a/x.rdb", sha256: "abc"}}`,
			want: []string{"spec.bootstrap.fromRDB.sha256"},
		},
		"a KMS key without KMS": {
			spec: `backup: {objectStore: {endpoint: "http://s3:9000", bucket: bkp, encryption: {mode: AES256, kmsKeyID: k}}}`,
			want: []string{"kmsKeyID", "aws:kms"},
		},
		"a retention age under an hour": {
			spec: `backup: {maxAge: 30m, objectStore: {endpoint: "http://s3:9000", bucket: bkp}}`,
			want: []string{"spec.backup.maxAge", "at least 1h"},
		},
		"a cron schedule with three fields": {
			spec: `backup: {schedule: "0 3 *", objectStore: {endpoint: "http://s3:9000", bucket: bkp, credentialsSecret: {name: s3}}}`,
			want: []string{"spec.backup.schedule", "five fields"},
		},
		"an object store without a scheme": {
			spec: `backup: {objectStore: {endpoint: "s3.local", bucket: bkp, credentialsSecret: {name: s3}}}`,
			want: []string{"spec.backup.objectStore.endpoint"},
		},
		"no proxy replica": {
			spec: `proxy: {replicas: 0}`,
			want: []string{"spec.proxy.replicas", "spec.proxy.enabled to false"},
		},
		"a sentinel pool for a RedisFailover with TLS": {
			spec: `{tls: {enabled: true}, sentinel: {poolRef: {name: shared}}}`,
			want: []string{"spec.sentinel.poolRef", "without TLS", "remove spec.sentinel.poolRef"},
		},
		"a name too long for derived objects": {
			name: longName,
			spec: `{}`,
			want: []string{"metadata.name", "at most 50 characters"},
		},
	}
	for title, tc := range cases {
		t.Run(title, func(t *testing.T) {
			name := tc.name
			if name == "" {
				name = "invalid"
			}
			err := k8sClient.Create(context.Background(), newRF(t, name, tc.spec))
			if err == nil {
				t.Fatalf("want refused, but it was accepted")
			}
			if !apierrors.IsInvalid(err) {
				t.Fatalf("want an Invalid error, got: %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestTransitionRules(t *testing.T) {
	cases := map[string]struct {
		create, update string
		want           []string
	}{
		"storage shrinks": {
			create: `redis: {storage: {size: 2Gi}}`,
			update: `redis: {storage: {size: 1Gi}}`,
			want:   []string{"spec.redis.storage.size", "cannot decrease"},
		},
		"storage class changes": {
			create: `redis: {storage: {storageClassName: fast}}`,
			update: `redis: {storage: {storageClassName: slow}}`,
			want:   []string{"spec.redis.storage.storageClassName", "cannot be changed"},
		},
		"bootstrap changes": {
			create: `bootstrap: {fromBackup: {name: a}}`,
			update: `bootstrap: {fromBackup: {name: b}}`,
			want:   []string{"spec.bootstrap", "cannot be changed afterwards"},
		},
		"bootstrap removed during a live import": {
			create: `{auth: {passwordSecret: {name: s, key: k}}, bootstrap: {fromRedis: {host: old-redis.example}}}`,
			update: `{auth: {passwordSecret: {name: s, key: k}}}`,
			want:   []string{"spec.bootstrap", "cannot be added or removed"},
		},
		"bootstrap added": {
			create: `{}`,
			update: `bootstrap: {fromBackup: {name: a}}`,
			want:   []string{"spec.bootstrap", "cannot be added or removed"},
		},
		"auth turned off": {
			create: `auth: {enabled: true}`,
			update: `auth: {enabled: false}`,
			want:   []string{"spec.auth.enabled", "cannot be changed on an existing RedisFailover", "create it again"},
		},
		"auth turned on": {
			create: `auth: {enabled: false}`,
			update: `auth: {}`,
			want:   []string{"spec.auth.enabled", "cannot be changed"},
		},
		"TLS turned on": {
			create: `{}`,
			update: `tls: {enabled: true}`,
			want:   []string{"spec.tls.enabled", "cannot be changed on an existing RedisFailover", "live import"},
		},
		"TLS turned off": {
			create: `tls: {enabled: true}`,
			update: `tls: {enabled: false}`,
			want:   []string{"spec.tls.enabled", "cannot be changed"},
		},
		"replicas lowered to min-replicas-to-write": {
			create: `{redis: {replicas: 3}, durability: {minReplicasToWrite: 2}}`,
			update: `{redis: {replicas: 2}, durability: {minReplicasToWrite: 2}}`,
			want:   []string{"spec.durability.minReplicasToWrite", "Lower it, or raise"},
		},
	}
	i := 0
	for title, tc := range cases {
		i++
		t.Run(title, func(t *testing.T) {
			ctx := context.Background()
			name := fmt.Sprintf("transition-%d", i)
			obj := newRF(t, name, tc.create)
			if err := k8sClient.Create(ctx, obj); err != nil {
				t.Fatalf("create: %v", err)
			}
			t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), obj) })
			updated := newRF(t, name, tc.update)
			updated.SetResourceVersion(obj.GetResourceVersion())
			err := k8sClient.Update(ctx, updated)
			if err == nil {
				t.Fatalf("want the update refused, but it was accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestStorageCanGrow(t *testing.T) {
	ctx := context.Background()
	obj := newRF(t, "grow", `redis: {storage: {size: 1Gi}}`)
	if err := k8sClient.Create(ctx, obj); err != nil {
		t.Fatalf("create: %v", err)
	}
	t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), obj) })
	if err := unstructured.SetNestedField(obj.Object, "1536Mi", "spec", "redis", "storage", "size"); err != nil {
		t.Fatal(err)
	}
	if err := k8sClient.Update(ctx, obj); err != nil {
		t.Fatalf("growing the volume must be accepted: %v", err)
	}
}

// TestSentinelPoolValidation: a pool of an even, too small or too large
// count, or of an engine haredis does not run, is refused naming the field
// and the fix; the defaults are visible.
func TestSentinelPoolValidation(t *testing.T) {
	ctx := context.Background()
	cases := map[string]struct {
		spec haredisv1.SentinelPoolSpec
		want []string
	}{
		"an even count": {spec: haredisv1.SentinelPoolSpec{Replicas: 4}, want: []string{"spec.replicas", "odd and at least 3"}},
		"one sentinel":  {spec: haredisv1.SentinelPoolSpec{Replicas: 1}, want: []string{"spec.replicas", "odd and at least 3"}},
		"too many":      {spec: haredisv1.SentinelPoolSpec{Replicas: 11}, want: []string{"spec.replicas", "at most 9"}},
		"an old engine": {spec: haredisv1.SentinelPoolSpec{Image: "redis:6.2"}, want: []string{"spec.image", "Redis 7.0 and later"}},
	}
	for title, tc := range cases {
		t.Run(title, func(t *testing.T) {
			sp := &haredisv1.SentinelPool{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "invalid"}, Spec: tc.spec}
			err := k8sClient.Create(ctx, sp)
			if err == nil {
				_ = k8sClient.Delete(ctx, sp)
				t.Fatalf("want refused, but it was accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message does not contain %q:\n%v", w, err)
				}
			}
		})
	}
	sp := &haredisv1.SentinelPool{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "defaults"}}
	if err := k8sClient.Create(ctx, sp); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = k8sClient.Delete(ctx, sp) }()
	if sp.Spec.Replicas != 3 || sp.Spec.Image != "valkey/valkey:8.0" {
		t.Errorf("defaults: %d sentinels of %q, want 3 of valkey/valkey:8.0", sp.Spec.Replicas, sp.Spec.Image)
	}
}
