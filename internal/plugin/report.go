package plugin

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/specs"
)

// ReportOptions are the choices of `report`.
type ReportOptions struct {
	// OperatorNamespace is where the operator runs; its pods' logs join
	// the report when they can be read.
	OperatorNamespace string
	// LogLines is how many of the last lines of each container's log to
	// take (default 10000).
	LogLines int64
	// Now stamps the report (default time.Now).
	Now time.Time
}

// ReportSummary says what a report holds and what it could not read.
type ReportSummary struct {
	Files []string `json:"files"`
	// Missing are the parts that could not be read, with why.
	Missing []string `json:"missing,omitempty"`
	// Redacted counts the secret values that were looked for in every
	// file and replaced.
	Redacted int `json:"redactedValues"`
}

// Redacted stands for a secret value in a report.
const Redacted = "<redacted>"

// Report writes a support bundle of RedisFailover ns/name to w, a gzipped
// tar: the RedisFailover and its RedisBackups, every object haredis owns
// for it (Secrets only by name, type and key sizes), the namespace's events
// about them, the status as `status` prints it, and the logs of every
// container (the previous run's too) and of the operator. Every value of
// the Secrets it can read (the password, the instance managers' token) is
// replaced by <redacted> in every file, and so are passwords in
// configuration lines and URLs.
func Report(ctx context.Context, c client.Reader, cs kubernetes.Interface, ns, name string, w io.Writer, o ReportOptions) (*ReportSummary, error) {
	rf, err := GetRF(ctx, c, ns, name)
	if err != nil {
		return nil, err
	}
	if o.LogLines <= 0 {
		o.LogLines = 10000
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	b := &bundle{root: name + "-report", summary: &ReportSummary{}}
	sel := client.MatchingLabels{specs.LabelInstance: name, specs.LabelManagedBy: specs.ManagedBy}
	in := client.InNamespace(ns)

	// Secrets first: their values are what every file is redacted of.
	var secrets corev1.SecretList
	if err := c.List(ctx, &secrets, in, sel); err != nil {
		b.missing("secrets", err)
	}
	if ps := rf.Spec.Auth.PasswordSecret; ps != nil {
		s := &corev1.Secret{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: ps.Name}, s); err != nil {
			b.missing("the password Secret "+ps.Name, err)
		} else {
			secrets.Items = append(secrets.Items, *s)
		}
	}
	b.learnSecrets(secrets.Items)
	b.add("objects/secrets.txt", describeSecrets(secrets.Items))

	b.addYAML("objects/redisfailover.yaml", rf)
	var backups haredisv1.RedisBackupList
	if err := c.List(ctx, &backups, in); err != nil {
		b.missing("redisbackups", err)
	} else {
		mine := backups.Items[:0]
		for _, rb := range backups.Items {
			if rb.Spec.Failover.Name == name {
				mine = append(mine, rb)
			}
		}
		backups.Items = mine
		b.addYAML("objects/redisbackups.yaml", &backups)
	}
	names := map[string]bool{name: true}
	for _, rb := range backups.Items {
		names[rb.Name] = true
	}
	lists := []struct {
		file string
		list client.ObjectList
	}{
		{"objects/pods.yaml", &corev1.PodList{}},
		{"objects/services.yaml", &corev1.ServiceList{}},
		{"objects/endpointslices.yaml", &discoveryv1.EndpointSliceList{}},
		{"objects/persistentvolumeclaims.yaml", &corev1.PersistentVolumeClaimList{}},
		{"objects/configmaps.yaml", &corev1.ConfigMapList{}},
		{"objects/poddisruptionbudgets.yaml", &policyv1.PodDisruptionBudgetList{}},
		{"objects/deployments.yaml", &appsv1.DeploymentList{}},
	}
	for _, l := range lists {
		if err := c.List(ctx, l.list, in, sel); err != nil {
			b.missing(l.file, err)
			continue
		}
		for _, n := range objectNames(l.list) {
			names[n] = true
		}
		b.addYAML(l.file, l.list)
	}
	var events corev1.EventList
	if err := c.List(ctx, &events, in); err != nil {
		b.missing("events", err)
	} else {
		mine := events.Items[:0]
		for _, e := range events.Items {
			if names[e.InvolvedObject.Name] {
				mine = append(mine, e)
			}
		}
		sort.SliceStable(mine, func(i, j int) bool { return eventTime(mine[i]).Before(eventTime(mine[j])) })
		events.Items = mine
		b.addYAML("events.yaml", &events)
	}

	if st, err := Status(ctx, c, ns, name); err != nil {
		b.missing("status", err)
	} else {
		var buf bytes.Buffer
		PrintStatus(&buf, st, false, o.Now)
		b.add("status.txt", buf.Bytes())
	}

	pods, err := Pods(ctx, c, ns, name)
	if err != nil {
		b.missing("pod logs", err)
	}
	for _, p := range pods {
		b.addLogs(ctx, cs, ns, p, o.LogLines, "logs/")
	}
	if o.OperatorNamespace != "" {
		var ops corev1.PodList
		err := c.List(ctx, &ops, client.InNamespace(o.OperatorNamespace), client.MatchingLabels{specs.LabelName: "haredis", specs.LabelComponent: "operator"})
		switch {
		case err != nil:
			b.missing("the operator's pods in "+o.OperatorNamespace, err)
		case len(ops.Items) == 0:
			b.summary.Missing = append(b.summary.Missing, "the operator's logs: no operator pod in namespace "+o.OperatorNamespace+" (--operator-namespace)")
		}
		for _, p := range ops.Items {
			b.addLogs(ctx, cs, o.OperatorNamespace, p, o.LogLines, "operator/")
		}
	}
	b.add("README.txt", b.readme(rf, o.Now))
	return b.summary, b.write(w, o.Now)
}

// bundle collects a report's files before it is written.
type bundle struct {
	root    string
	files   []bundleFile
	secrets [][]byte
	summary *ReportSummary
}

type bundleFile struct {
	name string
	data []byte
}

func (b *bundle) add(name string, data []byte) {
	b.files = append(b.files, bundleFile{name: name, data: data})
}

func (b *bundle) addYAML(name string, obj any) {
	if l, ok := obj.(client.ObjectList); ok {
		stripManagedFields(l)
	}
	if o, ok := obj.(client.Object); ok {
		o.SetManagedFields(nil)
	}
	data, err := yaml.Marshal(obj)
	if err != nil {
		b.summary.Missing = append(b.summary.Missing, fmt.Sprintf("%s: cannot encode: %v", name, err))
		return
	}
	b.add(name, data)
}

func (b *bundle) missing(what string, err error) {
	if apierrors.IsForbidden(err) {
		b.summary.Missing = append(b.summary.Missing, fmt.Sprintf("%s: permission denied (%v)", what, err))
		return
	}
	b.summary.Missing = append(b.summary.Missing, fmt.Sprintf("%s: %v", what, err))
}

// learnSecrets keeps every value of secrets long enough to be told apart
// from ordinary text, to redact it wherever it appears.
func (b *bundle) learnSecrets(secrets []corev1.Secret) {
	seen := map[string]bool{}
	for _, s := range secrets {
		for _, v := range s.Data {
			v = bytes.TrimSpace(v)
			if len(v) >= 6 && !seen[string(v)] {
				seen[string(v)] = true
				b.secrets = append(b.secrets, v)
			}
		}
	}
	// Longest first, so that a value that contains another goes whole.
	sort.Slice(b.secrets, func(i, j int) bool { return len(b.secrets[i]) > len(b.secrets[j]) })
	b.summary.Redacted = len(b.secrets)
}

// addLogs adds the current and the previous run of each of p's containers.
func (b *bundle) addLogs(ctx context.Context, cs kubernetes.Interface, ns string, p corev1.Pod, lines int64, dir string) {
	for _, s := range streamsOf([]corev1.Pod{p}) {
		runs := []bool{false}
		if s.restarts > 0 {
			runs = append(runs, true)
		}
		for _, previous := range runs {
			file := dir + s.pod + "/" + s.container + ".log"
			if previous {
				file = dir + s.pod + "/" + s.container + ".previous.log"
			}
			rc, err := cs.CoreV1().Pods(ns).GetLogs(s.pod, &corev1.PodLogOptions{Container: s.container, Previous: previous, TailLines: &lines, Timestamps: true}).Stream(ctx)
			if err != nil {
				b.missing(file, err)
				continue
			}
			data, err := io.ReadAll(io.LimitReader(rc, 64<<20))
			rc.Close()
			if err != nil {
				b.missing(file, err)
			}
			b.add(file, data)
		}
	}
}

// Passwords in configuration lines (redis.conf, sentinel.conf) and in URLs.
var (
	confSecret = regexp.MustCompile(`(?im)^(\s*(?:requirepass|masterauth|sentinel\s+auth-pass\s+\S+|sentinel\s+sentinel-pass)\s+)\S+`)
	urlSecret  = regexp.MustCompile(`((?:rediss?|redis-sentinel|redis-socket)://[^:/@\s"']*:)[^@\s"']+@`)
)

// redact replaces every known secret value, configuration password and
// URL password in data.
func (b *bundle) redact(data []byte) []byte {
	for _, s := range b.secrets {
		data = bytes.ReplaceAll(data, s, []byte(Redacted))
	}
	data = confSecret.ReplaceAll(data, []byte("${1}"+Redacted))
	return urlSecret.ReplaceAll(data, []byte("${1}"+Redacted+"@"))
}

func (b *bundle) readme(rf *haredisv1.RedisFailover, now time.Time) []byte {
	var s strings.Builder
	fmt.Fprintf(&s, "haredis support report of RedisFailover %s/%s, taken %s by kubectl haredis report.\n\n", rf.Namespace, rf.Name, now.UTC().Format(time.RFC3339))
	s.WriteString("Secrets appear by name, type and key sizes only (objects/secrets.txt). The value of every\n")
	s.WriteString("Secret that could be read, and passwords in configuration lines and URLs, are replaced by\n")
	s.WriteString(Redacted + " in every file. Read it through before you share it all the same.\n\n")
	s.WriteString("Files:\n")
	for _, f := range b.files {
		fmt.Fprintf(&s, "  %s (%d bytes)\n", f.name, len(f.data))
	}
	if len(b.summary.Missing) > 0 {
		s.WriteString("\nNot included:\n")
		for _, m := range b.summary.Missing {
			fmt.Fprintf(&s, "  %s\n", m)
		}
	}
	return []byte(s.String())
}

// write writes the files, redacted, as a gzipped tar under b.root/.
func (b *bundle) write(w io.Writer, now time.Time) error {
	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	for _, f := range b.files {
		data := b.redact(f.data)
		name := b.root + "/" + f.name
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: now, Typeflag: tar.TypeReg}); err != nil {
			return fmt.Errorf("cannot write the report: %w", err)
		}
		if _, err := tw.Write(data); err != nil {
			return fmt.Errorf("cannot write the report: %w", err)
		}
		b.summary.Files = append(b.summary.Files, name)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("cannot write the report: %w", err)
	}
	if err := gz.Close(); err != nil {
		return fmt.Errorf("cannot write the report: %w", err)
	}
	return nil
}

// describeSecrets lists Secrets without their values.
func describeSecrets(secrets []corev1.Secret) []byte {
	var s strings.Builder
	for _, sec := range secrets {
		fmt.Fprintf(&s, "%s (type %s)\n", sec.Name, sec.Type)
		keys := make([]string, 0, len(sec.Data))
		for k := range sec.Data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&s, "  %s: %d bytes\n", k, len(sec.Data[k]))
		}
	}
	if len(secrets) == 0 {
		s.WriteString("(none readable)\n")
	}
	return []byte(s.String())
}

func objectNames(l client.ObjectList) []string {
	var out []string
	forEachItem(l, func(o client.Object) { out = append(out, o.GetName()) })
	return out
}

func stripManagedFields(l client.ObjectList) {
	forEachItem(l, func(o client.Object) { o.SetManagedFields(nil) })
}

func forEachItem(l client.ObjectList, f func(client.Object)) {
	_ = meta.EachListItem(l, func(o runtime.Object) error {
		if co, ok := o.(client.Object); ok {
			f(co)
		}
		return nil
	})
}

func eventTime(e corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}
