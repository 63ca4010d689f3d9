package plugin

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	haredisv1 "github.com/haredis/haredis/api/v1"
)

const platformDefaults = `# a platform team's defaults
redis:
  storage:
    storageClassName: fast
    size: 2Gi
  resources:
    limits:
      memory: 512Mi
  config:
    maxmemory-policy: allkeys-lru
sentinel:
  downAfter: 2s
`

const platformObject = `apiVersion: haredis.dev/v1
kind: RedisFailover
metadata:
  name: ignored
  labels:
    team: payments
spec:
  redis:
    persistence: RDB
  proxy:
    replicas: 3
`

func generateCases() map[string]GenerateOptions {
	return map[string]GenerateOptions{
		"minimal": {Name: "app"},
		"flags": {Name: "cache", Namespace: "shop", Replicas: ptr.To[int32](2), StorageSize: ptr.To("5Gi"), StorageClass: ptr.To("fast"),
			Persistence: ptr.To("rdb"), Proxy: ptr.To(false), Sentinels: ptr.To[int32](5), Engine: ptr.To("redis"),
			Parameters: []string{"notify-keyspace-events=gxE", "maxmemory-policy=allkeys-lru"}},
		"defaults": {Name: "app", Defaults: []byte(platformDefaults), DefaultsSource: "defaults.yaml",
			StorageSize: ptr.To("10Gi"), Parameters: []string{"notify-keyspace-events=gxE"}},
		"defaults-object": {Name: "app", Defaults: []byte(platformObject), DefaultsSource: "object.yaml", Proxy: ptr.To(true)},
		"backup": {Name: "app", BackupStore: ptr.To("https://s3.eu-west-1.amazonaws.com/backups/redis/app"), BackupCredentials: ptr.To("s3-credentials"),
			BackupSchedule: ptr.To("0 3 * * *"), BackupRegion: ptr.To("eu-west-1"), BackupKeep: ptr.To[int32](14)},
		"noauth": {Name: "app", Defaults: []byte("auth:\n  enabled: false\n"), DefaultsSource: "noauth.yaml"},
	}
}

func TestGenerateGolden(t *testing.T) {
	for name, opts := range generateCases() {
		t.Run(name, func(t *testing.T) {
			rf, err := Generate(opts)
			if err != nil {
				t.Fatal(err)
			}
			out, err := Manifest(rf, "")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "generate/"+name+".yaml", string(out))
			back := &haredisv1.RedisFailover{}
			if err := yaml.UnmarshalStrict(out, back); err != nil {
				t.Fatalf("the manifest does not read back: %v", err)
			}
			h, err := HelmChart(rf, DefaultValuesKey)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "generate/"+name+".helm-values.yaml", string(h.Values))
			var values map[string]any
			if err := yaml.Unmarshal(h.Values, &values); err != nil {
				t.Fatalf("the values snippet is no YAML: %v", err)
			}
		})
	}
	rf, _ := Generate(generateCases()["flags"])
	out, err := Manifest(rf, OutputJSON)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "generate/flags.json", string(out))
	h, _ := HelmChart(rf, "cache-redis")
	golden(t, "generate/template.yaml", string(h.Template))
}

func TestGenerateRefuses(t *testing.T) {
	cases := map[string]struct {
		opts GenerateOptions
		want string
	}{
		"name":                        {GenerateOptions{Name: "App"}, "no valid RedisFailover name"},
		"sentinels":                   {GenerateOptions{Name: "a", Sentinels: ptr.To[int32](4)}, "an odd number from 3 to 9"},
		"replicas":                    {GenerateOptions{Name: "a", Replicas: ptr.To[int32](40)}, "from 1 (a primary alone) to 32"},
		"size":                        {GenerateOptions{Name: "a", StorageSize: ptr.To("lots")}, "--storage-size \"lots\""},
		"persistence":                 {GenerateOptions{Name: "a", Persistence: ptr.To("sometimes")}, "AOF (an append-only file"},
		"owned":                       {GenerateOptions{Name: "a", Parameters: []string{"appendonly=yes"}}, "haredis sets appendonly itself"},
		"not a pair":                  {GenerateOptions{Name: "a", Parameters: []string{"notify-keyspace-events"}}, "write NAME=VALUE"},
		"old image":                   {GenerateOptions{Name: "a", Image: ptr.To("redis:6.2")}, "Redis 7.0 and later"},
		"engine":                      {GenerateOptions{Name: "a", Engine: ptr.To("memcached")}, "valkey or redis"},
		"engine clash":                {GenerateOptions{Name: "a", Image: ptr.To("valkey/valkey:8.0"), Engine: ptr.To("redis")}, "does not run redis"},
		"store":                       {GenerateOptions{Name: "a", BackupStore: ptr.To("s3://bucket"), BackupCredentials: ptr.To("c")}, "path style"},
		"credentials without a store": {GenerateOptions{Name: "a", BackupCredentials: ptr.To("s3")}, "--backup-store"},
		"schedule":                    {GenerateOptions{Name: "a", BackupSchedule: ptr.To("daily")}, "five fields"},
		"typo":                        {GenerateOptions{Name: "a", Defaults: []byte("redis:\n  replica: 3\n"), DefaultsSource: "d.yaml"}, `unknown field "replica"`},
		"other kind":                  {GenerateOptions{Name: "a", Defaults: []byte("apiVersion: v1\nkind: ConfigMap\n"), DefaultsSource: "d.yaml"}, "want a RedisFailover"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Generate(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// The engine flag keeps an image of that engine and replaces another.
func TestGenerateEngine(t *testing.T) {
	for _, tc := range []struct{ defaults, engine, want string }{
		{"", "valkey", ""},
		{"", "redis", "redis:7.2"},
		{"redis:\n  image: redis:7.0\n", "redis", "redis:7.0"},
		{"redis:\n  image: redis:7.0\n", "valkey", "valkey/valkey:8.0"},
	} {
		rf, err := Generate(GenerateOptions{Name: "a", Defaults: []byte(tc.defaults), Engine: ptr.To(tc.engine)})
		if err != nil || rf.Spec.Redis.Image != tc.want {
			t.Errorf("defaults %q engine %s: image %q, %v; want %q", tc.defaults, tc.engine, rf.Spec.Redis.Image, err, tc.want)
		}
	}
}

func TestHelmWrite(t *testing.T) {
	dir := t.TempDir()
	rf, _ := Generate(GenerateOptions{Name: "app"})
	h, _ := HelmChart(rf, DefaultValuesKey)
	path, err := h.Write(dir, false)
	if err != nil || path != filepath.Join(dir, "templates", "app-redisfailover.yaml") {
		t.Fatalf("%s, %v", path, err)
	}
	if _, err := h.Write(dir, false); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("a second write: %v, want a refusal", err)
	}
	if _, err := h.Write(dir, true); err != nil {
		t.Errorf("--force: %v", err)
	}
	if IsChart(dir) {
		t.Error("no Chart.yaml, yet a chart")
	}
	if err := os.WriteFile(filepath.Join(dir, "Chart.yaml"), []byte("name: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if !IsChart(dir) {
		t.Error("a Chart.yaml, yet no chart")
	}
	if _, err := HelmChart(rf, "a.b"); err == nil {
		t.Error("a values key with a dot was accepted")
	}
}
