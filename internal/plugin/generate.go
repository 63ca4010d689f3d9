package plugin

import (
	"fmt"
	"net/url"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/engine"
	"github.com/haredis/haredis/internal/redisconf"
)

// Kind is the kind of a RedisFailover, as manifests write it.
const Kind = "RedisFailover"

// EngineImages are the images `generate --engine` picks: Valkey's is the
// schema's default.
var EngineImages = map[engine.Name]string{
	engine.Valkey: "valkey/valkey:8.0",
	engine.Redis:  "redis:7.2",
}

// GenerateOptions are the choices of `generate`. A nil field was not
// given: the defaults file's value, else the schema's default, stays.
type GenerateOptions struct {
	Name string
	// Namespace is written into the manifest when not empty.
	Namespace string
	// Defaults is a platform team's defaults: a partial RedisFailover
	// spec, or a whole RedisFailover, in YAML; DefaultsSource names it in
	// errors.
	Defaults       []byte
	DefaultsSource string

	Replicas     *int32
	StorageSize  *string
	StorageClass *string
	Persistence  *string
	Proxy        *bool
	Sentinels    *int32
	Image        *string
	Engine       *string
	// Parameters are name=value pairs of the parameter group.
	Parameters []string

	BackupSchedule *string
	// BackupStore is an S3-compatible bucket, path style:
	// https://ENDPOINT/BUCKET[/PREFIX].
	BackupStore       *string
	BackupRegion      *string
	BackupCredentials *string
	BackupKeep        *int32
}

// Generate builds the RedisFailover of opts: the defaults, then every
// choice given on top. It refuses what the API server would refuse that
// it can tell without one.
func Generate(opts GenerateOptions) (*haredisv1.RedisFailover, error) {
	if errs := validation.IsDNS1123Subdomain(opts.Name); len(errs) > 0 || len(opts.Name) > 50 {
		return nil, fmt.Errorf("%q is no valid RedisFailover name: a lower-case DNS name of at most 50 characters (letters, digits, '-'), for example app or cache-eu", opts.Name)
	}
	rf, err := parseDefaults(opts.Defaults, opts.DefaultsSource)
	if err != nil {
		return nil, err
	}
	rf.TypeMeta = metav1.TypeMeta{APIVersion: haredisv1.GroupVersion.String(), Kind: Kind}
	rf.Name, rf.Namespace = opts.Name, opts.Namespace
	s := &rf.Spec
	if opts.Replicas != nil {
		s.Redis.Replicas = *opts.Replicas
	}
	if opts.StorageSize != nil {
		q, err := resource.ParseQuantity(*opts.StorageSize)
		if err != nil || q.Sign() <= 0 {
			return nil, fmt.Errorf("--storage-size %q: a size greater than zero written like 1Gi or 500Mi", *opts.StorageSize)
		}
		s.Redis.Storage.Size = &q
	}
	if opts.StorageClass != nil {
		s.Redis.Storage.StorageClassName = opts.StorageClass
	}
	if opts.Persistence != nil {
		p, err := persistence(*opts.Persistence)
		if err != nil {
			return nil, err
		}
		s.Redis.Persistence = p
	}
	if opts.Proxy != nil {
		s.Proxy.Enabled = opts.Proxy
	}
	if opts.Sentinels != nil {
		n := *opts.Sentinels
		if n < 3 || n%2 == 0 || n > 9 {
			return nil, fmt.Errorf("--sentinels %d: an odd number from 3 to 9, so that a majority can elect a new primary", n)
		}
		s.Sentinel.Replicas = n
	}
	if err := chooseImage(s, opts.Image, opts.Engine); err != nil {
		return nil, err
	}
	if err := setParameters(s, opts.Parameters); err != nil {
		return nil, err
	}
	if err := setBackup(s, opts); err != nil {
		return nil, err
	}
	if s.Redis.Replicas != 0 && (s.Redis.Replicas < 1 || s.Redis.Replicas > 32) {
		return nil, fmt.Errorf("replicas %d: from 1 (a primary alone) to 32; 3 is a primary and two replicas", s.Redis.Replicas)
	}
	return rf, nil
}

// parseDefaults reads a partial spec, or a whole RedisFailover, strictly:
// a misspelt field is an error naming it.
func parseDefaults(data []byte, source string) (*haredisv1.RedisFailover, error) {
	rf := &haredisv1.RedisFailover{}
	if len(strings.TrimSpace(string(data))) == 0 {
		return rf, nil
	}
	var probe map[string]any
	if err := yaml.Unmarshal(data, &probe); err != nil {
		return nil, fmt.Errorf("cannot read the defaults %s: %w", source, err)
	}
	_, hasKind := probe["kind"]
	_, hasSpec := probe["spec"]
	if hasKind || hasSpec {
		if err := yaml.UnmarshalStrict(data, rf); err != nil {
			return nil, fmt.Errorf("cannot read the defaults %s as a RedisFailover: %w", source, err)
		}
		if rf.Kind != "" && (rf.Kind != Kind || rf.APIVersion != haredisv1.GroupVersion.String()) {
			return nil, fmt.Errorf("the defaults %s are a %s %s; want a RedisFailover (%s) or its spec alone", source, rf.APIVersion, rf.Kind, haredisv1.GroupVersion)
		}
		// Only the spec, labels and annotations are defaults; the name,
		// namespace and status come from the command.
		return &haredisv1.RedisFailover{ObjectMeta: metav1.ObjectMeta{Labels: rf.Labels, Annotations: rf.Annotations}, Spec: rf.Spec}, nil
	}
	if err := yaml.UnmarshalStrict(data, &rf.Spec); err != nil {
		return nil, fmt.Errorf("cannot read the defaults %s as a RedisFailover spec: %w", source, err)
	}
	return rf, nil
}

func persistence(p string) (haredisv1.PersistenceMode, error) {
	for _, m := range []haredisv1.PersistenceMode{haredisv1.PersistenceAOF, haredisv1.PersistenceRDB, haredisv1.PersistenceNone} {
		if strings.EqualFold(p, string(m)) {
			return m, nil
		}
	}
	return "", fmt.Errorf("--persistence %q: AOF (an append-only file fsynced every second), RDB (snapshots) or None", p)
}

// chooseImage sets the image from --image, or from --engine when the
// image in force (given or defaulted) runs another engine.
func chooseImage(s *haredisv1.RedisFailoverSpec, image, eng *string) error {
	if image != nil {
		if *image == "" {
			return fmt.Errorf("--image: empty")
		}
		if srv, ok := engine.FromImage(*image); ok {
			if err := srv.Supported(); err != nil {
				return fmt.Errorf("--image %s: %w", *image, err)
			}
		}
		s.Redis.Image = *image
	}
	if eng == nil {
		return nil
	}
	want := engine.Name(strings.ToLower(*eng))
	def, known := EngineImages[want]
	if !known {
		return fmt.Errorf("--engine %q: valkey or redis", *eng)
	}
	current := s.Redis.Image
	if current == "" {
		current = EngineImages[engine.Valkey]
	}
	if srv, ok := engine.FromImage(current); ok && srv.Engine == want {
		return nil
	}
	if image != nil {
		return fmt.Errorf("--image %s does not run %s (--engine); give one of them", *image, want)
	}
	s.Redis.Image = def
	return nil
}

func setParameters(s *haredisv1.RedisFailoverSpec, params []string) error {
	for _, p := range params {
		name, value, ok := strings.Cut(p, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return fmt.Errorf("--set-parameter %q: write NAME=VALUE, for example notify-keyspace-events=gxE", p)
		}
		if redisconf.IsOwned(name) {
			return fmt.Errorf("--set-parameter %s: haredis sets %s itself (persistence and durability have their own fields)", p, strings.ToLower(name))
		}
		if s.Redis.Config == nil {
			s.Redis.Config = map[string]haredisv1.ConfigValue{}
		}
		s.Redis.Config[strings.ToLower(name)] = haredisv1.ConfigValue(value)
	}
	if _, err := redisconf.NormalizeGroup(configStrings(s.Redis.Config)); err != nil {
		return err
	}
	return nil
}

func configStrings(c map[string]haredisv1.ConfigValue) map[string]string {
	out := make(map[string]string, len(c))
	for k, v := range c {
		out[k] = string(v)
	}
	return out
}

func setBackup(s *haredisv1.RedisFailoverSpec, o GenerateOptions) error {
	if o.BackupSchedule == nil && o.BackupStore == nil && o.BackupRegion == nil && o.BackupCredentials == nil && o.BackupKeep == nil {
		return nil
	}
	if s.Backup == nil {
		s.Backup = &haredisv1.BackupSpec{}
	}
	b := s.Backup
	if o.BackupStore != nil {
		u, err := url.Parse(*o.BackupStore)
		parts := []string{}
		if err == nil {
			parts = strings.SplitN(strings.Trim(u.Path, "/"), "/", 2)
		}
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || parts[0] == "" {
			return fmt.Errorf("--backup-store %q: write the bucket path style, https://ENDPOINT/BUCKET[/PREFIX], for example https://s3.eu-west-1.amazonaws.com/backups/redis", *o.BackupStore)
		}
		b.ObjectStore.Endpoint = u.Scheme + "://" + u.Host
		b.ObjectStore.Bucket = parts[0]
		if len(parts) == 2 {
			b.ObjectStore.Prefix = parts[1]
		}
	}
	if o.BackupRegion != nil {
		b.ObjectStore.Region = *o.BackupRegion
	}
	if o.BackupCredentials != nil {
		b.ObjectStore.CredentialsSecret = &haredisv1.LocalObjectReference{Name: *o.BackupCredentials}
	}
	if o.BackupSchedule != nil {
		sched := *o.BackupSchedule
		if len(strings.Fields(sched)) != 5 && !strings.HasPrefix(sched, "@") {
			return fmt.Errorf("--backup-schedule %q: a cron expression with five fields (minute hour day-of-month month day-of-week), for example \"0 3 * * *\", or a shorthand such as @daily", sched)
		}
		b.Schedule = sched
	}
	if o.BackupKeep != nil {
		if *o.BackupKeep < 1 {
			return fmt.Errorf("--backup-keep %d: at least 1", *o.BackupKeep)
		}
		b.Keep = *o.BackupKeep
	}
	var missing []string
	if b.ObjectStore.Endpoint == "" || b.ObjectStore.Bucket == "" {
		missing = append(missing, "--backup-store")
	}
	if len(missing) > 0 {
		return fmt.Errorf("backups need %s", strings.Join(missing, " and "))
	}
	return nil
}

// Manifest renders rf as YAML (or JSON with format "json") without the
// fields the API server sets: what a GitOps repository holds.
func Manifest(rf *haredisv1.RedisFailover, format string) ([]byte, error) {
	obj, err := manifestMap(rf)
	if err != nil {
		return nil, err
	}
	if format == OutputJSON {
		var b strings.Builder
		if err := PrintData(&b, OutputJSON, obj); err != nil {
			return nil, err
		}
		return []byte(b.String()), nil
	}
	return yaml.Marshal(obj)
}

func manifestMap(rf *haredisv1.RedisFailover) (map[string]any, error) {
	b, err := yaml.Marshal(rf)
	if err != nil {
		return nil, fmt.Errorf("cannot encode the RedisFailover: %w", err)
	}
	var obj map[string]any
	if err := yaml.Unmarshal(b, &obj); err != nil {
		return nil, fmt.Errorf("cannot decode the RedisFailover: %w", err)
	}
	delete(obj, "status")
	if md, ok := obj["metadata"].(map[string]any); ok {
		delete(md, "creationTimestamp")
	}
	spec, _ := obj["spec"].(map[string]any)
	pruneEmpty(spec)
	return obj, nil
}

// pruneEmpty removes the empty objects the Go types write for sections
// and fields left unset ({} resources, {} auth, ...): the schema's
// defaults fill them.
func pruneEmpty(m map[string]any) {
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			pruneEmpty(sub)
			if len(sub) == 0 {
				delete(m, k)
			}
		}
	}
}
