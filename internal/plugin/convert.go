package plugin

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/engine"
	"github.com/haredis/haredis/internal/redisconf"
	"github.com/haredis/haredis/internal/specs"
)

// SpotahomeAPIVersion is the group and version of the RedisFailover of
// Spotahome's redis-operator, the manifests `convert` reads.
const SpotahomeAPIVersion = "databases.spotahome.com/v1"

// ConvertOptions are the choices of `convert`.
type ConvertOptions struct {
	// Source names the input in errors: a file name, or stdin.
	Source string
	// Namespace, when not empty, is written into every converted
	// RedisFailover that names none; one that names another is an error.
	Namespace string
}

// NotCarried is a field of a Spotahome RedisFailover that the converted
// manifest does not hold, and why.
type NotCarried struct {
	// Object is the RedisFailover, NAMESPACE/NAME (NAME without a namespace).
	Object string `json:"object"`
	// Field is the field's path in the Spotahome manifest.
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// ConvertNote is something the converted manifest holds, or leaves to a
// haredis default that differs from Spotahome's, that deserves a look.
type ConvertNote struct {
	Object string `json:"object"`
	Field  string `json:"field"`
	Note   string `json:"note"`
}

// ConvertedDocument is one document of the output: a converted
// RedisFailover, or another document passed through unchanged.
type ConvertedDocument struct {
	// RedisFailover is the conversion; nil for a document passed through.
	RedisFailover *haredisv1.RedisFailover
	// Object is NAMESPACE/NAME of the Spotahome RedisFailover.
	Object     string
	NotCarried []NotCarried
	Notes      []ConvertNote

	// Text is a document passed through as it was written, Data the same
	// decoded, and Describe says what it is ("v1 Secret shop/app-auth").
	Text     []byte
	Data     map[string]any
	Describe string
}

// Conversion is what `convert` makes of its input, document by document
// in the input's order.
type Conversion struct {
	Documents []ConvertedDocument
}

// ConvertData is the output of `convert -o json|yaml`.
type ConvertData struct {
	Manifests  []map[string]any `json:"manifests"`
	NotCarried []NotCarried     `json:"notCarried"`
	Notes      []ConvertNote    `json:"notes"`
}

// Convert turns the Spotahome RedisFailovers (databases.spotahome.com/v1)
// of data, YAML or JSON of one or more documents (a kind List is read item
// by item), into haredis RedisFailovers. Documents of any other kind pass
// through unchanged. It fails on input that is not YAML, on a document
// that is not a Kubernetes object, and when there is no Spotahome
// RedisFailover to convert.
func Convert(data []byte, opts ConvertOptions) (*Conversion, error) {
	src := opts.Source
	if src == "" {
		src = "the input"
	}
	docs, err := convertSplit(data)
	if err != nil {
		return nil, fmt.Errorf("%s is not YAML: %w", src, err)
	}
	type object struct {
		m    map[string]any
		text []byte
		doc  int
	}
	var objects []object
	for i, d := range docs {
		var v any
		if err := yaml.Unmarshal(d, &v); err != nil {
			return nil, fmt.Errorf("%s: document %d is not YAML: %w", src, i+1, err)
		}
		if v == nil {
			continue // empty, or comments only
		}
		m, ok := v.(map[string]any)
		if !ok || m["apiVersion"] == nil || m["kind"] == nil {
			return nil, fmt.Errorf("%s: document %d is not a Kubernetes object (a mapping with apiVersion and kind); give a file of manifests", src, i+1)
		}
		items, isList := m["items"].([]any)
		if kind, _ := m["kind"].(string); isList && strings.HasSuffix(kind, "List") {
			for j, it := range items {
				im, ok := it.(map[string]any)
				if !ok || im["apiVersion"] == nil || im["kind"] == nil {
					return nil, fmt.Errorf("%s: document %d, item %d is not a Kubernetes object", src, i+1, j+1)
				}
				text, err := yaml.Marshal(im)
				if err != nil {
					return nil, fmt.Errorf("%s: document %d, item %d: %w", src, i+1, j+1, err)
				}
				objects = append(objects, object{im, text, i + 1})
			}
			continue
		}
		objects = append(objects, object{m, d, i + 1})
	}

	secrets := map[string]map[string]bool{}
	for _, o := range objects {
		if o.m["apiVersion"] == "v1" && o.m["kind"] == "Secret" {
			keys := map[string]bool{}
			for _, f := range []string{"data", "stringData"} {
				if d, ok := o.m[f].(map[string]any); ok {
					for k := range d {
						keys[k] = true
					}
				}
			}
			secrets[convertObjectName(o.m)] = keys
		}
	}

	out := &Conversion{}
	converted := 0
	var others []string
	for _, o := range objects {
		apiVersion, _ := o.m["apiVersion"].(string)
		kind, _ := o.m["kind"].(string)
		group, _, _ := strings.Cut(apiVersion, "/")
		if kind == Kind && strings.HasSuffix(group, ".spotahome.com") && apiVersion != SpotahomeAPIVersion {
			return nil, fmt.Errorf("%s: document %d is a %s RedisFailover; convert reads %s, the RedisFailover of Spotahome's redis-operator 1.0 and later", src, o.doc, apiVersion, SpotahomeAPIVersion)
		}
		if apiVersion != SpotahomeAPIVersion || kind != Kind {
			text := convertDocumentText(o.text)
			describe := strings.TrimSpace(apiVersion + " " + kind + " " + convertObjectName(o.m))
			others = append(others, describe)
			out.Documents = append(out.Documents, ConvertedDocument{Text: text, Data: o.m, Describe: describe})
			continue
		}
		d, err := convertRF(o.m, opts, secrets)
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", src, o.doc, err)
		}
		converted++
		out.Documents = append(out.Documents, d)
	}
	if converted == 0 {
		found := "no Kubernetes object"
		if len(others) > 0 {
			found = strings.Join(others, ", ")
		}
		return nil, fmt.Errorf("%s holds no %s RedisFailover to convert (found %s)", src, SpotahomeAPIVersion, found)
	}
	return out, nil
}

// convertSplit cuts YAML into its documents.
func convertSplit(data []byte) ([][]byte, error) {
	r := k8syaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		d, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		docs = append(docs, append([]byte(nil), d...))
	}
}

// convertDocumentText is a document as the output repeats it: without
// the separator the first document of a file may start with (the output
// writes its own), ending with a line break.
func convertDocumentText(text []byte) []byte {
	if rest, ok := bytes.CutPrefix(text, []byte("---")); ok {
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			text = rest[i+1:]
		} else {
			text = nil
		}
	}
	out := append([]byte(nil), text...)
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	return out
}

// convertObjectName is NAMESPACE/NAME, or NAME without a namespace.
func convertObjectName(m map[string]any) string {
	md, _ := m["metadata"].(map[string]any)
	name, _ := md["name"].(string)
	if ns, _ := md["namespace"].(string); ns != "" {
		return ns + "/" + name
	}
	return name
}

// NotCarried lists what no converted manifest holds, document by document.
func (c *Conversion) NotCarried() []NotCarried {
	out := []NotCarried{}
	for _, d := range c.Documents {
		out = append(out, d.NotCarried...)
	}
	return out
}

// Notes lists what to check, document by document.
func (c *Conversion) Notes() []ConvertNote {
	out := []ConvertNote{}
	for _, d := range c.Documents {
		out = append(out, d.Notes...)
	}
	return out
}

// YAML is the output: every document in the input's order, each converted
// RedisFailover headed by comments that say what was not carried over and
// what to check.
func (c *Conversion) YAML() ([]byte, error) {
	var b bytes.Buffer
	for i, d := range c.Documents {
		if i > 0 {
			b.WriteString("---\n")
		}
		if d.RedisFailover == nil {
			b.Write(d.Text)
			continue
		}
		convertHeader(&b, d)
		m, err := Manifest(d.RedisFailover, "")
		if err != nil {
			return nil, err
		}
		b.Write(m)
	}
	return b.Bytes(), nil
}

// Data is the output of -o json|yaml: the manifests and the report.
func (c *Conversion) Data() (*ConvertData, error) {
	out := &ConvertData{Manifests: []map[string]any{}, NotCarried: c.NotCarried(), Notes: c.Notes()}
	for _, d := range c.Documents {
		if d.RedisFailover == nil {
			out.Manifests = append(out.Manifests, d.Data)
			continue
		}
		m, err := manifestMap(d.RedisFailover)
		if err != nil {
			return nil, err
		}
		out.Manifests = append(out.Manifests, m)
	}
	return out, nil
}

// PrintReport writes the report for humans: per document, what was not
// carried over and what to check, one line each.
func (c *Conversion) PrintReport(w io.Writer) {
	for _, d := range c.Documents {
		if d.RedisFailover == nil {
			fmt.Fprintf(w, "%s: passed through unchanged\n", d.Describe)
			continue
		}
		fmt.Fprintf(w, "RedisFailover %s: converted to %s; %s not carried over, %s to check\n",
			d.Object, haredisv1.GroupVersion, convertCount(len(d.NotCarried), "field"), convertCount(len(d.Notes), "point"))
		if len(d.NotCarried) > 0 {
			fmt.Fprintln(w, "  not carried over:")
			for _, n := range d.NotCarried {
				fmt.Fprintf(w, "    %s: %s\n", n.Field, n.Reason)
			}
		}
		if len(d.Notes) > 0 {
			fmt.Fprintln(w, "  check:")
			for _, n := range d.Notes {
				fmt.Fprintf(w, "    %s: %s\n", n.Field, n.Note)
			}
		}
	}
}

func convertCount(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

func convertHeader(b *bytes.Buffer, d ConvertedDocument) {
	convertComment(b, "", fmt.Sprintf("Converted by kubectl haredis convert from the %s RedisFailover %s.", SpotahomeAPIVersion, d.Object))
	if len(d.NotCarried) == 0 {
		b.WriteString("# Every field was carried over.\n")
	} else {
		b.WriteString("# Not carried over:\n")
		for _, n := range d.NotCarried {
			convertComment(b, "- ", n.Field+": "+n.Reason)
		}
	}
	if len(d.Notes) > 0 {
		b.WriteString("# Check:\n")
		for _, n := range d.Notes {
			convertComment(b, "- ", n.Field+": "+n.Note)
		}
	}
}

// convertComment writes text as YAML comments wrapped at 78 columns, the
// first line after bullet, the others indented under it.
func convertComment(b *bytes.Buffer, bullet, text string) {
	const width = 78
	first, next := "#", "#"+strings.Repeat(" ", len(bullet))
	if bullet != "" {
		first = "# " + strings.TrimSpace(bullet)
	}
	line, empty := first, true
	for _, w := range strings.Fields(text) {
		if len(line)+1+len(w) > width && !empty {
			b.WriteString(line + "\n")
			line = next
		}
		line += " " + w
		empty = false
	}
	b.WriteString(line + "\n")
}

// reasonUnknownField is the reason for a field Spotahome's RedisFailover
// does not have.
const reasonUnknownField = "is no field of Spotahome's RedisFailover (a misspelt field, or one of another version of it); not carried over"

// convertPath is the path of field name of the object at path.
func convertPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// rfConverter converts one Spotahome RedisFailover.
type rfConverter struct {
	doc     *ConvertedDocument
	rf      *haredisv1.RedisFailover
	name    string
	labels  map[string]string
	secrets map[string]map[string]bool
	// What spec.redis sets, for the notes on what it leaves to haredis's
	// defaults.
	hasImage, hasPVC, hasEmptyDir, hasSecretPath bool
}

func (c *rfConverter) drop(field, reason string) {
	c.doc.NotCarried = append(c.doc.NotCarried, NotCarried{Object: c.doc.Object, Field: field, Reason: reason})
}

func (c *rfConverter) note(field, note string) {
	c.doc.Notes = append(c.doc.Notes, ConvertNote{Object: c.doc.Object, Field: field, Note: note})
}

// convertField handles one field of a Spotahome object.
type convertField struct {
	name string
	fn   func(path string, v any)
}

// walk hands each known field of the object v to its handler, in the
// handlers' order, and reports every other field that is set.
func (c *rfConverter) walk(path string, v any, fields []convertField) {
	m, ok := v.(map[string]any)
	if !ok {
		if !convertEmpty(v) {
			c.drop(path, "is not an object; not carried over")
		}
		return
	}
	known := map[string]bool{}
	for _, f := range fields {
		known[f.name] = true
		if fv, ok := m[f.name]; ok {
			f.fn(convertPath(path, f.name), fv)
		}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !known[k] && !convertEmpty(m[k]) {
			c.drop(convertPath(path, k), reasonUnknownField)
		}
	}
}

// unsupported reports the field, when set, with reason.
func (c *rfConverter) unsupported(reason string) func(string, any) {
	return func(path string, v any) {
		if !convertEmpty(v) {
			c.drop(path, reason)
		}
	}
}

// convertIgnored handles the fields there is nothing to carry of: those
// the API server writes (status), and the object's own kind.
func convertIgnored(string, any) {}

// convertEmpty tells a field left at its zero value: it asked for nothing.
func convertEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case bool:
		return !x
	case string:
		return x == ""
	case float64:
		return x == 0
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	}
	return false
}

// convertDecode reads v (decoded YAML) into out, refusing unknown fields.
func convertDecode(v any, out any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(out)
}

// convertWholeNumber reads an integer field.
func convertWholeNumber(v any) (int64, bool) {
	switch x := v.(type) {
	case float64:
		if x == float64(int64(x)) {
			return int64(x), true
		}
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		return n, err == nil
	}
	return 0, false
}

func convertRF(m map[string]any, opts ConvertOptions, secrets map[string]map[string]bool) (ConvertedDocument, error) {
	md, _ := m["metadata"].(map[string]any)
	name, _ := md["name"].(string)
	ns, _ := md["namespace"].(string)
	if name == "" {
		return ConvertedDocument{}, fmt.Errorf("the %s RedisFailover has no metadata.name", SpotahomeAPIVersion)
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 || len(name) > 50 {
		return ConvertedDocument{}, fmt.Errorf("RedisFailover %q: a haredis RedisFailover's name is a lower-case DNS name of at most 50 characters; rename it", name)
	}
	if opts.Namespace != "" {
		if ns != "" && ns != opts.Namespace {
			return ConvertedDocument{}, fmt.Errorf("RedisFailover %s/%s is in namespace %s, not %s (-n); leave out -n or the namespace in the file", ns, name, ns, opts.Namespace)
		}
		ns = opts.Namespace
	}
	doc := &ConvertedDocument{Object: name}
	if ns != "" {
		doc.Object = ns + "/" + name
	}
	rf := &haredisv1.RedisFailover{
		TypeMeta:   metav1.TypeMeta{APIVersion: haredisv1.GroupVersion.String(), Kind: Kind},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
	}
	c := &rfConverter{doc: doc, rf: rf, name: name, secrets: secrets}
	c.walk("", m, []convertField{
		{"apiVersion", convertIgnored},
		{"kind", convertIgnored},
		{"metadata", c.metadata},
		{"spec", c.spec},
		{"status", convertIgnored},
	})
	c.defaultNotes()
	sort.SliceStable(doc.NotCarried, func(i, j int) bool { return convertFieldLess(doc.NotCarried[i].Field, doc.NotCarried[j].Field) })
	sort.SliceStable(doc.Notes, func(i, j int) bool { return convertFieldLess(doc.Notes[i].Field, doc.Notes[j].Field) })
	doc.RedisFailover = rf
	return *doc, nil
}

// convertFieldLess orders field paths by their bytes, but list indexes by
// their numbers: customConfig[2] before customConfig[10].
func convertFieldLess(a, b string) bool {
	digits := func(s string) (int, string) {
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == 0 {
			return -1, s
		}
		n, _ := strconv.Atoi(s[:i])
		return n, s[i:]
	}
	for a != "" && b != "" {
		na, ra := digits(a)
		nb, rb := digits(b)
		if na >= 0 && nb >= 0 {
			if na != nb {
				return na < nb
			}
			a, b = ra, rb
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

// The fields of metadata the API server writes: they describe the
// Spotahome object, not the new one.
var convertServerMetadata = []string{"uid", "resourceVersion", "generation", "creationTimestamp",
	"deletionTimestamp", "deletionGracePeriodSeconds", "managedFields", "selfLink"}

func (c *rfConverter) metadata(path string, v any) {
	fields := []convertField{
		{"name", convertIgnored},
		{"namespace", convertIgnored},
		{"labels", func(p string, v any) {
			var l map[string]string
			if err := convertDecode(v, &l); err != nil {
				c.drop(p, "cannot be read as labels: "+err.Error())
				return
			}
			if len(l) == 0 {
				return
			}
			c.rf.Labels, c.labels = l, l
			c.note(p, "carried onto the RedisFailover only: Spotahome also copied them onto its pods and Services (filtered by spec.labelWhitelist); "+
				"haredis labels its objects app.kubernetes.io/name=haredis, app.kubernetes.io/instance="+c.name+" and app.kubernetes.io/component")
		}},
		{"annotations", func(p string, v any) {
			var a map[string]string
			if err := convertDecode(v, &a); err != nil {
				c.drop(p, "cannot be read as annotations: "+err.Error())
				return
			}
			// kubectl's record of the Spotahome object would describe
			// another object.
			delete(a, corev1.LastAppliedConfigAnnotation)
			if len(a) > 0 {
				c.rf.Annotations = a
			}
		}},
		{"generateName", c.unsupported("a converted RedisFailover keeps the name of the Spotahome one")},
		{"finalizers", c.unsupported("finalizers belong to the Spotahome object; haredis adds its own")},
		{"ownerReferences", c.unsupported("owner references belong to the Spotahome object; set them again on the new one if its owner should delete it")},
	}
	for _, f := range convertServerMetadata {
		fields = append(fields, convertField{f, convertIgnored})
	}
	c.walk(path, v, fields)
}

// defaultNotes says where the manifest leaves to haredis's defaults what
// Spotahome's defaults did differently.
func (c *rfConverter) defaultNotes() {
	if !c.hasImage {
		c.note("spec.redis.image", fmt.Sprintf("not set: Spotahome ran its default image, Redis 6.2; haredis runs %s unless spec.redis.image is set (redis:7.2 or later stays on Redis)", EngineImages[engine.Valkey]))
	}
	if !c.hasPVC && !c.hasEmptyDir {
		c.note("spec.redis.storage", "not set: Spotahome kept the data in an emptyDir, lost with the pod; haredis gives every instance a PersistentVolumeClaim, of 1Gi in the cluster's default storage class unless spec.redis.storage says otherwise")
	}
	if !c.hasSecretPath {
		c.note("spec.auth.secretPath", "not set: Spotahome ran without a password. haredis requires one by default and generates it into Secret "+
			c.rf.AuthSecretName()+"; clients find it in Secret "+c.rf.ConnectionSecretName()+" (REDIS_PASSWORD). "+
			"To run without a password set spec.auth.enabled: false, which cannot be changed afterwards")
	}
}

func (c *rfConverter) spec(path string, v any) {
	c.walk(path, v, []convertField{
		{"redis", c.redis},
		{"sentinel", c.sentinel},
		{"auth", c.auth},
		{"bootstrapNode", c.bootstrapNode},
		{"labelWhitelist", c.unsupported("haredis does not copy the RedisFailover's labels onto its objects, so there is nothing to filter; " +
			"it labels them app.kubernetes.io/name=haredis, app.kubernetes.io/instance=" + c.name + " and app.kubernetes.io/component")},
	})
}

// pod fields that haredis has no equivalent for, common to Redis and
// sentinels.
func (c *rfConverter) podFields(component string) []convertField {
	what := "Redis"
	if component == specs.ComponentSentinel {
		what = "sentinel"
	}
	return []convertField{
		{"serviceAccountName", c.unsupported("the " + what + " pods run as the ServiceAccount " + specs.ServiceAccountName(c.rf) + ", which haredis creates with the permissions they need; there is no field to choose another")},
		{"securityContext", c.unsupported("haredis has no field for the security context of its pods")},
		{"containerSecurityContext", c.unsupported("haredis has no field for the security context of its containers")},
		{"hostNetwork", c.unsupported("haredis pods use the pod network: clients and peers reach them through Services and the stable DNS names of headless Services; there is no field for the host's network")},
		{"dnsPolicy", func(p string, v any) {
			if s, _ := v.(string); s != "" && s != string(corev1.DNSClusterFirst) {
				c.drop(p, "haredis pods use the cluster's DNS (ClusterFirst), which their stable names need; there is no field for the DNS policy")
			}
		}},
		{"imagePullSecrets", c.unsupported("haredis has no field for image pull Secrets: the nodes must be able to pull the image without one (credentials of the node, or a registry mirror)")},
		{"podAnnotations", c.unsupported("haredis has no field for annotations on its pods")},
		{"serviceAnnotations", c.unsupported("haredis has no field for annotations on its Services")},
		{"initContainers", c.unsupported("haredis has no field for containers of yours in its pods")},
		{"extraContainers", c.unsupported("haredis has no field for containers of yours in its pods")},
		{"extraVolumes", c.unsupported("haredis has no field for volumes of yours in its pods")},
		{"extraVolumeMounts", c.unsupported("haredis has no field for volumes of yours in its pods")},
		{"startupConfigMap", c.unsupported("haredis has no field for a startup script: the " + what + " configuration comes from the spec")},
		{"customLivenessProbe", c.unsupported("haredis's probes are its own: " + convertProbes(component))},
		{"customReadinessProbe", c.unsupported("haredis's probes are its own: " + convertProbes(component))},
		{"customStartupProbe", c.unsupported("haredis's probes are its own: " + convertProbes(component))},
		{"disablePodDisruptionBudget", c.unsupported("haredis always creates PodDisruptionBudgets (at most one Redis instance down at a time, never fewer sentinels than the quorum); there is no field to leave them out")},
	}
}

func convertProbes(component string) string {
	if component == specs.ComponentSentinel {
		return "a TCP check of the sentinel's port"
	}
	return "the instance manager's /healthz and /readyz, ready only for a primary that takes writes or a replica in sync"
}

func (c *rfConverter) redis(path string, v any) {
	r := &c.rf.Spec.Redis
	fields := []convertField{
		{"image", func(p string, v any) {
			c.hasImage = !convertEmpty(v)
			if img, ok := c.image(p, v, "spec.redis.image"); ok {
				r.Image = img
			}
		}},
		{"imagePullPolicy", func(p string, v any) {
			if s, _ := v.(string); s != "" {
				r.ImagePullPolicy = corev1.PullPolicy(s)
			}
		}},
		{"replicas", func(p string, v any) {
			n, ok := convertWholeNumber(v)
			switch {
			case !ok:
				c.drop(p, "is not a whole number")
			case n <= 0:
				// Spotahome's default, 3, is haredis's.
			case n > 32:
				c.drop(p, fmt.Sprintf("%d: haredis runs 1 to 32 instances (a primary cannot feed more replicas well); the manifest keeps the default, 3", n))
			default:
				r.Replicas = int32(n)
			}
		}},
		{"port", func(p string, v any) {
			if n, ok := convertWholeNumber(v); !ok || (n > 0 && n != specs.RedisPort) {
				c.drop(p, fmt.Sprintf("haredis's instances listen on %d (its sentinels on %d), and clients reach them through REDIS_URL and the Services; there is no field for the port", specs.RedisPort, specs.SentinelPort))
			}
		}},
		{"resources", func(p string, v any) {
			if err := convertDecode(v, &r.Resources); err != nil {
				c.drop(p, "cannot be read as resources: "+err.Error())
			}
		}},
		{"customConfig", c.redisConfig},
		{"customCommandRenames", c.unsupported("haredis renames no commands (rename-command is refused in spec.redis.config): its instance manager, sentinels and proxy call commands such as CONFIG, REPLICAOF and SHUTDOWN by their names")},
		{"command", c.unsupported("haredis starts redis-server itself: the container runs haredis's instance manager, which writes redis.conf from the spec and supervises the server; put redis.conf parameters in spec.redis.config")},
		{"shutdownConfigMap", c.unsupported("haredis's instance manager shuts redis-server down itself; there is no field for a shutdown script")},
		{"storage", c.storage},
		{"exporter", c.exporter(specs.ComponentRedis)},
		{"terminationGracePeriod", c.unsupported(fmt.Sprintf("haredis gives an instance %d s to stop (its manager's stop timeout and a margin); there is no field for it", specs.TerminationGracePeriodSeconds))},
	}
	fields = append(fields, c.scheduling(&r.Scheduling)...)
	fields = append(fields, c.podFields(specs.ComponentRedis)...)
	c.walk(path, v, fields)
}

// image carries an image the schema accepts.
func (c *rfConverter) image(path string, v any, target string) (string, bool) {
	img, ok := v.(string)
	if !ok {
		if !convertEmpty(v) {
			c.drop(path, "is not a string")
		}
		return "", false
	}
	if img == "" {
		return "", false
	}
	srv, known := engine.FromImage(img)
	if !known {
		c.note(target, img+": haredis learns the engine and version from the server when it starts, and refuses a server older than "+engine.SupportedRange)
		return img, true
	}
	if err := srv.Supported(); err != nil {
		keeps := "the default image, " + EngineImages[engine.Valkey] + "; write redis:7.2 or later to stay on Redis (Redis 7 and Valkey load the RDB files of Redis 6)"
		if target == "spec.sentinel.image" {
			keeps = "spec.sentinel.image empty, so that the sentinels run spec.redis.image"
		}
		c.drop(path, fmt.Sprintf("%s: %v; the manifest keeps %s", img, err, keeps))
		return "", false
	}
	return img, true
}

func (c *rfConverter) storage(path string, v any) {
	st := &c.rf.Spec.Redis.Storage
	m, _ := v.(map[string]any)
	c.hasPVC = !convertEmpty(m["persistentVolumeClaim"])
	c.walk(path, v, []convertField{
		{"persistentVolumeClaim", c.pvc},
		{"keepAfterDeletion", func(p string, v any) {
			keep, ok := v.(bool)
			switch {
			case !ok:
				c.drop(p, "is not true or false")
			case !c.hasPVC:
				// An emptyDir keeps nothing; haredis keeps volumes by default.
			default:
				st.KeepAfterDeletion = ptr.To(keep)
				if !keep {
					c.note(p, "carried as false: haredis deletes the volumes when the RedisFailover is deleted, and the volume of an instance removed by a scale down")
				}
			}
		}},
		{"emptyDir", func(p string, v any) {
			if v == nil {
				return
			}
			c.hasEmptyDir = true
			if c.hasPVC {
				c.drop(p, "Spotahome convertIgnored it next to persistentVolumeClaim")
				return
			}
			c.drop(p, "haredis gives every instance a PersistentVolumeClaim (spec.redis.storage: size, storageClassName), which outlives the pod, where the emptyDir lost the data with it; to keep nothing on disk set spec.redis.persistence: None")
		}},
	})
	if _, set := m["keepAfterDeletion"]; c.hasPVC && !set {
		c.note(path+".keepAfterDeletion", "not set: Spotahome deleted the volumes with the RedisFailover; haredis keeps them (spec.redis.storage.keepAfterDeletion defaults to true) until you delete them, or set keepAfterDeletion: false")
	}
}

func (c *rfConverter) pvc(path string, v any) {
	st := &c.rf.Spec.Redis.Storage
	c.walk(path, v, []convertField{
		{"apiVersion", convertIgnored},
		{"kind", convertIgnored},
		{"status", convertIgnored},
		{"metadata", func(p string, v any) {
			c.walk(p, v, []convertField{
				{"name", c.unsupported("haredis names each instance's volume after the instance (" + c.rf.InstanceName(1) + ", " + c.rf.InstanceName(2) + ", ...)")},
				{"labels", c.unsupported("haredis has no field for labels on the volumes; it labels them itself")},
				{"annotations", c.unsupported("haredis has no field for annotations on the volumes")},
			})
		}},
		{"spec", func(p string, v any) {
			var ps corev1.PersistentVolumeClaimSpec
			if err := convertDecode(v, &ps); err != nil {
				c.drop(p, "cannot be read as a PersistentVolumeClaim spec: "+err.Error())
				return
			}
			if q, ok := ps.Resources.Requests[corev1.ResourceStorage]; !ok {
				c.note(p+".resources.requests.storage", "not set: haredis asks for 1Gi per instance")
			} else if q.Sign() <= 0 {
				c.drop(p+".resources.requests.storage", "is not a size greater than zero")
			} else {
				st.Size = ptr.To(q)
			}
			if len(ps.Resources.Limits) > 0 {
				c.drop(p+".resources.limits", "haredis requests a size only; volumes grow in place when spec.redis.storage.size grows")
			}
			if ps.StorageClassName != nil {
				st.StorageClassName = ps.StorageClassName
			}
			for _, mode := range ps.AccessModes {
				if mode != corev1.ReadWriteOnce {
					c.drop(p+".accessModes", "haredis asks for ReadWriteOnce: each volume serves one instance")
					break
				}
			}
			if ps.Selector != nil {
				c.drop(p+".selector", "haredis provisions the volumes from their storage class; there is no field for a selector")
			}
			if ps.VolumeName != "" {
				c.drop(p+".volumeName", "haredis creates one volume per instance and binds none given")
			}
			if ps.VolumeMode != nil && *ps.VolumeMode != corev1.PersistentVolumeFilesystem {
				c.drop(p+".volumeMode", "haredis's volumes hold a file system")
			}
			if ps.DataSource != nil || ps.DataSourceRef != nil {
				c.drop(p+".dataSource", "haredis's volumes start empty; seed a new RedisFailover with spec.bootstrap (fromBackup or fromRDB)")
			}
			if ps.VolumeAttributesClassName != nil {
				c.drop(p+".volumeAttributesClassName", "haredis has no field for a volume attributes class")
			}
		}},
	})
}

func (c *rfConverter) exporter(component string) func(string, any) {
	return func(p string, v any) {
		if convertEmpty(v) {
			return
		}
		if m, _ := v.(map[string]any); m["enabled"] != true {
			c.drop(p, "the exporter is disabled; nothing to carry over (haredis runs no exporter sidecar)")
			return
		}
		if component == specs.ComponentSentinel {
			c.drop(p, fmt.Sprintf("haredis runs no exporter next to its sentinels, and they serve no metrics: the RedisFailover's status and conditions say what the sentinels see (kubectl haredis status), "+
				"and status.failoverCount and status.lastFailoverTime count the failovers. For redis_sentinel_exporter's metrics, run it as a Deployment of its own against Service %s, port %d",
				c.rf.SentinelServiceName(), specs.SentinelPort))
			return
		}
		c.drop(p, fmt.Sprintf("haredis runs no exporter sidecar and exposes metrics itself: each instance's manager serves GET /metrics on port %d "+
			"(haredis_instance_*: role, readiness, replication offset and lag, connected replicas, keys, restarts; the request needs the manager token of Secret %s) "+
			"and each proxy pod on port %d (haredis_proxy_*). For redis_exporter's metrics (INFO), run redis_exporter as a Deployment of its own against the Services %s and %s "+
			"with REDIS_PASSWORD from Secret %s",
			specs.StatusPort, specs.InternalSecretName(c.rf), specs.ProxyAdminPort, c.rf.PrimaryServiceName(), c.rf.ReplicasServiceName(), c.rf.ConnectionSecretName()))
	}
}

// scheduling carries the fields that place pods: haredis has the same.
func (c *rfConverter) scheduling(s *haredisv1.Scheduling) []convertField {
	return []convertField{
		{"affinity", func(p string, v any) {
			a := &corev1.Affinity{}
			if err := convertDecode(v, a); err != nil {
				c.drop(p, "cannot be read as an affinity: "+err.Error())
				return
			}
			if a.NodeAffinity == nil && a.PodAffinity == nil && a.PodAntiAffinity == nil {
				return
			}
			c.rewriteAffinity(p, a)
			s.Affinity = a
		}},
		{"tolerations", func(p string, v any) {
			if err := convertDecode(v, &s.Tolerations); err != nil {
				c.drop(p, "cannot be read as tolerations: "+err.Error())
			}
		}},
		{"nodeSelector", func(p string, v any) {
			if err := convertDecode(v, &s.NodeSelector); err != nil {
				c.drop(p, "cannot be read as a node selector: "+err.Error())
			}
		}},
		{"topologySpreadConstraints", func(p string, v any) {
			var tsc []corev1.TopologySpreadConstraint
			if err := convertDecode(v, &tsc); err != nil {
				c.drop(p, "cannot be read as topology spread constraints: "+err.Error())
				return
			}
			for i := range tsc {
				c.rewriteSelector(fmt.Sprintf("%s[%d]", p, i), tsc[i].LabelSelector, &tsc[i].MatchLabelKeys, nil)
			}
			s.TopologySpreadConstraints = tsc
		}},
		{"priorityClassName", func(p string, v any) {
			if name, ok := v.(string); ok {
				s.PriorityClassName = name
			} else if !convertEmpty(v) {
				c.drop(p, "is not a string")
			}
		}},
	}
}

func (c *rfConverter) rewriteAffinity(path string, a *corev1.Affinity) {
	terms := func(p string, required []corev1.PodAffinityTerm, preferred []corev1.WeightedPodAffinityTerm) {
		for i := range required {
			t := &required[i]
			c.rewriteSelector(fmt.Sprintf("%s.requiredDuringSchedulingIgnoredDuringExecution[%d]", p, i), t.LabelSelector, &t.MatchLabelKeys, &t.MismatchLabelKeys)
		}
		for i := range preferred {
			t := &preferred[i].PodAffinityTerm
			c.rewriteSelector(fmt.Sprintf("%s.preferredDuringSchedulingIgnoredDuringExecution[%d].podAffinityTerm", p, i), t.LabelSelector, &t.MatchLabelKeys, &t.MismatchLabelKeys)
		}
	}
	if pa := a.PodAffinity; pa != nil {
		terms(path+".podAffinity", pa.RequiredDuringSchedulingIgnoredDuringExecution, pa.PreferredDuringSchedulingIgnoredDuringExecution)
	}
	if pa := a.PodAntiAffinity; pa != nil {
		terms(path+".podAntiAffinity", pa.RequiredDuringSchedulingIgnoredDuringExecution, pa.PreferredDuringSchedulingIgnoredDuringExecution)
	}
}

// Labels of Spotahome's pods that selectors name.
const (
	spotahomeNameLabel = "redisfailovers.databases.spotahome.com/name"
	spotahomeRoleLabel = "redisfailovers-role"
	spotahomePartOf    = "app.kubernetes.io/part-of"
)

// spotahomeSelector maps a key of a selector on Spotahome's pod labels, and
// its values, to haredis's labels: app.kubernetes.io/name (the
// RedisFailover's name at Spotahome) becomes app.kubernetes.io/instance,
// part-of=redis-failover becomes name=haredis, redisfailovers-role
// master|slave becomes haredis.dev/role primary|replica, managed-by
// redis-operator becomes haredis. app.kubernetes.io/component (redis,
// sentinel) is the same at both.
func spotahomeSelector(key string, values []string) (string, []string, bool) {
	mapValues := func(m map[string]string) []string {
		out := make([]string, len(values))
		for i, v := range values {
			if nv, ok := m[v]; ok {
				v = nv
			}
			out[i] = v
		}
		return out
	}
	switch key {
	case specs.LabelName, spotahomeNameLabel:
		return specs.LabelInstance, values, true
	case spotahomePartOf:
		for _, v := range values {
			if v != "redis-failover" {
				return key, values, false
			}
		}
		return specs.LabelName, mapValues(map[string]string{"redis-failover": "haredis"}), true
	case specs.LabelManagedBy:
		out := mapValues(map[string]string{"redis-operator": specs.ManagedBy})
		return key, out, strings.Join(out, ",") != strings.Join(values, ",")
	case spotahomeRoleLabel:
		return haredisv1.LabelRole, mapValues(map[string]string{"master": string(haredisv1.RolePrimary), "slave": string(haredisv1.RoleReplica)}), true
	}
	return key, values, false
}

// rewriteSelector rewrites a pod selector written for Spotahome's pod
// labels to select the same pods of haredis, and notes what it changed
// and what it cannot.
func (c *rfConverter) rewriteSelector(path string, sel *metav1.LabelSelector, matchKeys, mismatchKeys *[]string) {
	var changes, lost []string
	seen := map[string]bool{}
	check := func(key string) {
		if _, onRF := c.labels[key]; onRF && !seen[key] {
			seen[key] = true
			lost = append(lost, key)
		}
	}
	if sel != nil {
		if len(sel.MatchLabels) > 0 {
			keys := make([]string, 0, len(sel.MatchLabels))
			for k := range sel.MatchLabels {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			out := map[string]string{}
			for _, k := range keys {
				v := sel.MatchLabels[k]
				nk, nv, changed := spotahomeSelector(k, []string{v})
				if changed {
					changes = append(changes, fmt.Sprintf("%s=%s → %s=%s", k, v, nk, nv[0]))
				} else {
					check(k)
				}
				out[nk] = nv[0]
			}
			sel.MatchLabels = out
		}
		for i := range sel.MatchExpressions {
			e := &sel.MatchExpressions[i]
			nk, nv, changed := spotahomeSelector(e.Key, e.Values)
			if changed {
				changes = append(changes, fmt.Sprintf("%s %s %v → %s %s %v", e.Key, e.Operator, e.Values, nk, e.Operator, nv))
				e.Key, e.Values = nk, nv
			} else {
				check(e.Key)
			}
		}
	}
	for _, keys := range []*[]string{matchKeys, mismatchKeys} {
		if keys == nil {
			continue
		}
		for i, k := range *keys {
			if nk, _, changed := spotahomeSelector(k, nil); changed {
				changes = append(changes, fmt.Sprintf("key %s → %s", k, nk))
				(*keys)[i] = nk
			} else {
				check(k)
			}
		}
	}
	if len(changes) > 0 {
		c.note(path, "rewritten from the labels of Spotahome's pods to haredis's: "+strings.Join(changes, "; "))
	}
	if len(lost) > 0 {
		what := "label " + lost[0] + ", which"
		if len(lost) > 1 {
			what = "labels " + strings.Join(lost, ", ") + ", which"
		}
		c.note(path, "selects by the "+what+" Spotahome copied from the RedisFailover onto its pods; haredis's pods do not carry it, so this selector may match none of them")
	}
}

// spotahomeConfigLine is one NAME VALUE line of a customConfig.
type spotahomeConfigLine struct {
	// field is the line's path with its parameter name; never its value,
	// which may be a password.
	field string
	name  string
	value string
}

// configLines reads a customConfig the way Spotahome applied it: one NAME
// VALUE per line, sent in order with CONFIG SET (SENTINEL SET for the
// sentinels), so that a later line with the same name replaces an earlier
// one; only for the names of merge does each line add to the others
// (client-output-buffer-limit sets one class of clients per line).
// aliases maps old names to the ones haredis knows them by.
func (c *rfConverter) configLines(path string, v any, aliases map[string]string, merge map[string]bool) []spotahomeConfigLine {
	list, ok := v.([]any)
	if !ok {
		if !convertEmpty(v) {
			c.drop(path, "is not a list of lines")
		}
		return nil
	}
	var lines []spotahomeConfigLine
	at := map[string]int{}
	for i, item := range list {
		p := fmt.Sprintf("%s[%d]", path, i)
		s, ok := item.(string)
		if !ok {
			c.drop(p, "is not a string")
			continue
		}
		s = strings.TrimSpace(s)
		cut := strings.IndexAny(s, " \t")
		if cut < 0 {
			c.drop(p, "is not a line NAME VALUE")
			continue
		}
		name, value := strings.ToLower(s[:cut]), strings.TrimSpace(s[cut+1:])
		if value == `""` {
			value = ""
		}
		if canonical, ok := aliases[name]; ok {
			name = canonical
		}
		l := spotahomeConfigLine{field: fmt.Sprintf("%s (%s)", p, name), name: name, value: value}
		j, seen := at[name]
		switch {
		case !seen:
			at[name] = len(lines)
			lines = append(lines, l)
		case merge[name]:
			lines[j].value += " " + value
		default:
			c.drop(lines[j].field, "replaced by "+p+": Spotahome applied the lines in order, so only the last was in force")
			lines[j] = l
		}
	}
	return lines
}

// spotahomeRedisAliases are the old names of parameters that haredis sets
// from fields or manages.
var spotahomeRedisAliases = map[string]string{
	"min-slaves-to-write": "min-replicas-to-write",
	"min-slaves-max-lag":  "min-replicas-max-lag",
	"slave-priority":      "replica-priority",
	"slaveof":             "replicaof",
}

// convertMaxConfigValue is the longest value spec.redis.config takes.
const convertMaxConfigValue = 4096

func (c *rfConverter) redisConfig(path string, v any) {
	r := &c.rf.Spec.Redis
	lines := c.configLines(path, v, spotahomeRedisAliases, map[string]bool{"client-output-buffer-limit": true})
	var appendonly, appendfsync, save *spotahomeConfigLine
	for i := range lines {
		l := &lines[i]
		switch l.name {
		case "appendonly":
			if v := strings.ToLower(l.value); v != "yes" && v != "no" {
				c.drop(l.field, "is neither yes nor no")
				continue
			}
			appendonly = l
		case "appendfsync":
			appendfsync = l
		case "save":
			save = l
		case "min-replicas-to-write":
			n, err := strconv.Atoi(l.value)
			replicas := r.Replicas
			if replicas == 0 {
				replicas = 3
			}
			switch {
			case err != nil || n < 0 || n > 31:
				c.drop(l.field, "is not a number from 0 to 31")
			case int32(n) >= replicas:
				c.drop(l.field, fmt.Sprintf("%d: must be lower than the number of instances, %d (spec.redis.replicas), or the primary would refuse every write", n, replicas))
			default:
				c.rf.Spec.Durability.MinReplicasToWrite = ptr.To(int32(n))
				c.note(l.field, fmt.Sprintf("carried as spec.durability.minReplicasToWrite: %d", n))
			}
		case "min-replicas-max-lag":
			n, err := strconv.Atoi(l.value)
			if err != nil || n < 1 || n > 3600 {
				c.drop(l.field, "haredis takes 1 to 3600 seconds (spec.durability.maxLag)")
				continue
			}
			c.rf.Spec.Durability.MaxLag = &metav1.Duration{Duration: time.Duration(n) * time.Second}
			c.note(l.field, fmt.Sprintf("carried as spec.durability.maxLag: %s", c.rf.Spec.Durability.MaxLag.Duration))
		case "replica-priority":
			c.drop(l.field, "haredis sets replica-priority itself: 0 on a replica that may hold older data, so that Sentinel never promotes it, and a preferred value on the target of a switchover")
		case "requirepass":
			c.drop(l.field, "the password comes from spec.auth: put it in a Secret under the key password and name that Secret and key in spec.auth.passwordSecret")
		case "masterauth", "masteruser":
			c.drop(l.field, "haredis's replicas authenticate with the password of spec.auth")
		case "rename-command":
			c.drop(l.field, "haredis renames no commands: its instance manager, sentinels and proxy call them by their names")
		case "port":
			c.drop(l.field, fmt.Sprintf("haredis's instances listen on %d; there is no field for the port", specs.RedisPort))
		default:
			switch {
			case redisconf.IsOwned(l.name):
				c.drop(l.field, "haredis sets "+l.name+" itself; spec.redis.config refuses it")
			case len(l.value) > convertMaxConfigValue:
				c.drop(l.field, fmt.Sprintf("the value is longer than the %d characters spec.redis.config takes", convertMaxConfigValue))
			default:
				if _, err := redisconf.NormalizeGroup(map[string]string{l.name: l.value}); err != nil {
					c.drop(l.field, err.Error())
					continue
				}
				if r.Config == nil {
					r.Config = map[string]haredisv1.ConfigValue{}
				}
				if len(r.Config) == 256 {
					c.drop(l.field, "spec.redis.config holds at most 256 parameters")
					continue
				}
				r.Config[l.name] = haredisv1.ConfigValue(l.value)
			}
		}
	}

	// Persistence: Spotahome's redis.conf snapshots (save 900 1, save 300
	// 10) without an append-only file; customConfig changes either.
	aof := appendonly != nil && strings.EqualFold(appendonly.value, "yes")
	switch {
	case aof:
		r.Persistence = haredisv1.PersistenceAOF
		c.note(appendonly.field, "carried as spec.redis.persistence: AOF (an append-only file fsynced every second)")
	case save != nil && save.value == "":
		r.Persistence = haredisv1.PersistenceNone
		c.note(save.field, "save \"\" without appendonly yes is carried as spec.redis.persistence: None: nothing on disk; a restarted instance comes back empty and resynchronises from the primary")
	case save != nil || appendonly != nil:
		r.Persistence = haredisv1.PersistenceRDB
		by := appendonly
		if save != nil {
			by = save
		}
		c.note(by.field, "carried as spec.redis.persistence: RDB (snapshots only)")
	}
	mode := r.Persistence
	if mode == "" {
		mode = haredisv1.PersistenceAOF
	}
	if save != nil && save.value != redisconf.PersistenceDefault(string(mode), "save") {
		if r.Config == nil {
			r.Config = map[string]haredisv1.ConfigValue{}
		}
		r.Config["save"] = haredisv1.ConfigValue(save.value)
	}
	if appendfsync != nil && !strings.EqualFold(appendfsync.value, "everysec") {
		c.drop(appendfsync.field, "haredis's append-only file is always fsynced every second (spec.redis.persistence: AOF); there is no field for appendfsync")
	}
}

func (c *rfConverter) sentinel(path string, v any) {
	s := &c.rf.Spec.Sentinel
	fields := []convertField{
		{"image", func(p string, v any) {
			img, ok := c.image(p, v, "spec.sentinel.image")
			if !ok {
				return
			}
			redis := c.rf.Spec.Redis.Image
			if redis == "" {
				redis = EngineImages[engine.Valkey]
			}
			if img != redis {
				s.Image = img
				c.note(p, "the sentinels run another image than the instances ("+redis+"); with spec.sentinel.image empty, haredis runs them with spec.redis.image, the same engine as the instances")
			}
		}},
		{"imagePullPolicy", func(p string, v any) {
			if pp, _ := v.(string); pp != "" && pp != string(c.rf.Spec.Redis.ImagePullPolicy) {
				c.drop(p, "haredis pulls the sentinels' image with spec.redis.imagePullPolicy; there is no field of their own")
			}
		}},
		{"replicas", func(p string, v any) {
			n, ok := convertWholeNumber(v)
			switch {
			case !ok:
				c.drop(p, "is not a whole number")
			case n <= 0:
				// Spotahome's default, 3, is haredis's.
			case n < 3 || n > 9 || n%2 == 0:
				c.drop(p, fmt.Sprintf("%d: haredis runs an odd number of sentinels from 3 to 9, so that a majority can elect a new primary; the manifest keeps the default, 3", n))
			default:
				s.Replicas = int32(n)
			}
		}},
		{"resources", func(p string, v any) {
			if err := convertDecode(v, &s.Resources); err != nil {
				c.drop(p, "cannot be read as resources: "+err.Error())
			}
		}},
		{"customConfig", c.sentinelConfig},
		{"command", c.unsupported("the sentinels run haredis's sentinel role, which writes sentinel.conf from the spec at every start; spec.sentinel.downAfter and spec.sentinel.failoverTimeout set its timings")},
		{"exporter", c.exporter(specs.ComponentSentinel)},
		{"configCopy", c.unsupported("haredis runs no container that copies the sentinel's configuration: its sentinels write sentinel.conf at every start; there is no field for it")},
	}
	fields = append(fields, c.scheduling(&s.Scheduling)...)
	fields = append(fields, c.podFields(specs.ComponentSentinel)...)
	c.walk(path, v, fields)
}

func (c *rfConverter) sentinelConfig(path string, v any) {
	s := &c.rf.Spec.Sentinel
	millis := func(l spotahomeConfigLine, min, max time.Duration) (*metav1.Duration, bool) {
		n, err := strconv.ParseInt(l.value, 10, 64)
		d := time.Duration(n) * time.Millisecond
		if err != nil || d < min || d > max {
			return nil, false
		}
		return &metav1.Duration{Duration: d}, true
	}
	for _, l := range c.configLines(path, v, nil, nil) {
		switch l.name {
		case "down-after-milliseconds":
			if d, ok := millis(l, 100*time.Millisecond, 10*time.Minute); ok {
				s.DownAfter = d
				c.note(l.field, "carried as spec.sentinel.downAfter: "+d.Duration.String())
			} else {
				c.drop(l.field, "haredis takes 100 to 600000 milliseconds (spec.sentinel.downAfter); the manifest keeps the default, 1s")
			}
		case "failover-timeout":
			if d, ok := millis(l, time.Second, time.Hour); ok {
				s.FailoverTimeout = d
				c.note(l.field, "carried as spec.sentinel.failoverTimeout: "+d.Duration.String())
			} else {
				c.drop(l.field, "haredis takes 1000 to 3600000 milliseconds (spec.sentinel.failoverTimeout); the manifest keeps the default, 10s")
			}
		case "parallel-syncs":
			c.drop(l.field, "haredis's sentinels reconfigure the replicas one at a time after a failover (parallel-syncs 1); there is no field for it")
		case "quorum":
			c.drop(l.field, "the quorum is a majority of spec.sentinel.replicas; there is no field for it")
		case "auth-pass", "auth-user":
			c.drop(l.field, "the sentinels authenticate with the password of spec.auth")
		case "notification-script", "client-reconfig-script":
			c.drop(l.field, "haredis's sentinels run no scripts; the RedisFailover's status records each failover (status.failoverCount, status.lastFailoverTime)")
		default:
			c.drop(l.field, "haredis configures its sentinels itself; of Sentinel's settings only down-after-milliseconds and failover-timeout have fields (spec.sentinel.downAfter, spec.sentinel.failoverTimeout)")
		}
	}
}

func (c *rfConverter) auth(path string, v any) {
	c.walk(path, v, []convertField{
		{"secretPath", func(p string, v any) {
			name, ok := v.(string)
			c.hasSecretPath = !convertEmpty(v)
			if !ok || name == "" {
				if !convertEmpty(v) {
					c.drop(p, "is not a string")
				}
				return
			}
			if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
				c.drop(p, "is not the name of a Secret: "+strings.Join(errs, "; "))
				return
			}
			c.rf.Spec.Auth.PasswordSecret = &haredisv1.SecretKeySelector{Name: name, Key: specs.PasswordKey}
			note := fmt.Sprintf("carried as spec.auth.passwordSecret with name %s and key %s: Spotahome read the password from the key password of the Secret, "+
				"haredis reads the key that passwordSecret.key names. Check that Secret %s exists in the namespace of the new RedisFailover and holds the key %s. "+
				"haredis takes the password when it creates the instances and never changes it behind running pods (a changed Secret sets the condition PasswordSecretInSync to False); "+
				"clients also find it in Secret %s (REDIS_PASSWORD)",
				name, specs.PasswordKey, name, specs.PasswordKey, c.rf.ConnectionSecretName())
			keys, inInput := c.secrets[name]
			if c.rf.Namespace != "" {
				if k, ok := c.secrets[c.rf.Namespace+"/"+name]; ok {
					keys, inInput = k, true
				}
			}
			if inInput && !keys[specs.PasswordKey] {
				note += fmt.Sprintf(". The Secret %s of the input has no key %s", name, specs.PasswordKey)
			}
			c.note(p, note)
		}},
	})
}

func (c *rfConverter) bootstrapNode(path string, v any) {
	m, ok := v.(map[string]any)
	if !ok || len(m) == 0 {
		if !convertEmpty(v) {
			c.drop(path, "is not an object")
		}
		return
	}
	host, _ := m["host"].(string)
	if host == "" {
		host = "HOST"
	}
	port := strconv.Itoa(specs.RedisPort)
	if n, ok := convertWholeNumber(m["port"]); ok && n > 0 {
		port = strconv.FormatInt(n, 10)
	}
	c.drop(path, fmt.Sprintf("haredis has no bootstrap node. With it Spotahome kept every instance a replica of the Redis at %s:%s for as long as it was set (with sentinels only if allowSentinels); "+
		"a haredis RedisFailover always runs its own primary. To start it with that Redis's data, copy the data once: take an RDB file of it (redis-cli -h %s -p %s --rdb dump.rdb), "+
		"then either seed the new RedisFailover with it (spec.bootstrap.fromRDB: the file in object storage or behind an HTTPS URL; spec.bootstrap.fromBackup for a RedisBackup) "+
		"or replay it into the running RedisFailover with kubectl haredis import %s dump.rdb (writes the source takes after the file is made are not copied). "+
		"To keep its writes until the move, import it live instead: spec.bootstrap.fromRedis {host: %s, port: %s} replicates from it until a cutover you start, "+
		"with spec.auth.passwordSecret naming the Secret of its password",
		host, port, host, port, c.name, host, port))
}
