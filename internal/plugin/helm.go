package plugin

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/specs"
)

// DefaultValuesKey is the key of values.yaml that `generate --helm`
// writes under.
const DefaultValuesKey = "haredis"

// Helm is a RedisFailover as a Helm template and its values.
type Helm struct {
	// TemplatePath is where the template goes, relative to the chart.
	TemplatePath string
	Template     []byte
	// Values is the snippet to add to values.yaml.
	Values []byte
}

var valuesKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

// HelmChart renders rf as a Helm template whose spec, name, labels and
// annotations come from values.yaml under key, and the values snippet
// that gives them, with the env entries an application's containers need
// from the connection Secret.
func HelmChart(rf *haredisv1.RedisFailover, key string) (*Helm, error) {
	if !valuesKey.MatchString(key) {
		return nil, fmt.Errorf("--values-key %q: a values.yaml key (letters, digits, '_', '-')", key)
	}
	obj, err := manifestMap(rf)
	if err != nil {
		return nil, err
	}
	spec, _ := obj["spec"].(map[string]any)
	if spec == nil {
		spec = map[string]any{}
	}
	// The values in the order a reader wants them: the switch, the name,
	// the metadata, the spec, then the env entries for the application.
	parts := []struct {
		key   string
		value any
	}{{"enabled", true}, {"name", rf.Name}, {"labels", rf.Labels}, {"annotations", rf.Annotations}, {"spec", spec}, {"env", connectionEnv(rf)}}
	var values strings.Builder
	values.WriteString(key + ":\n")
	for _, p := range parts {
		if m, ok := p.value.(map[string]string); ok && len(m) == 0 {
			continue
		}
		b, err := yaml.Marshal(map[string]any{p.key: p.value})
		if err != nil {
			return nil, fmt.Errorf("cannot encode the values: %w", err)
		}
		for _, line := range strings.SplitAfter(string(b), "\n") {
			if line != "" {
				values.WriteString("  " + line)
			}
		}
	}
	path := filepath.Join("templates", rf.Name+"-redisfailover.yaml")
	header := fmt.Sprintf(`# Add to values.yaml. %s renders RedisFailover %s from %s.spec;
# give an application's containers the connection with
#   env:
#     {{- toYaml (index .Values %q).env | nindent 12 }}
`, path, rf.Name, key, key)
	return &Helm{TemplatePath: path, Template: []byte(helmTemplate(key, rf.Name)), Values: []byte(header + values.String())}, nil
}

func helmTemplate(key, name string) string {
	return fmt.Sprintf(`{{- /* RedisFailover %[2]s, written by kubectl haredis generate --helm: its spec is .Values.%[1]s.spec */ -}}
{{- with index .Values %[1]q }}
{{- if .enabled }}
apiVersion: %[3]s
kind: %[4]s
metadata:
  name: {{ .name }}
  {{- with .labels }}
  labels:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  {{- toYaml .spec | nindent 2 }}
{{- end }}
{{- end }}
`, key, name, haredisv1.GroupVersion.String(), Kind)
}

// connectionEnv are the env entries that give a container the keys of the
// connection Secret of rf (REDIS_PASSWORD only when auth is on).
func connectionEnv(rf *haredisv1.RedisFailover) []corev1.EnvVar {
	keys := []string{specs.ConnURL, specs.ConnSentinelURL, specs.ConnHost, specs.ConnPort}
	if rf.AuthEnabled() {
		keys = append(keys, specs.ConnPassword)
	}
	keys = append(keys, specs.ConnMasterName, specs.ConnSentinels)
	env := make([]corev1.EnvVar, 0, len(keys))
	for _, k := range keys {
		env = append(env, corev1.EnvVar{Name: k, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: rf.ConnectionSecretName()}, Key: k,
		}}})
	}
	return env
}

// Write writes the template under the chart directory dir, refusing to
// replace a file unless force; it returns the path written.
func (h *Helm) Write(dir string, force bool) (string, error) {
	path := filepath.Join(dir, h.TemplatePath)
	if _, err := os.Stat(path); err == nil && !force {
		return "", fmt.Errorf("%s exists; --force replaces it", path)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("cannot look at %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", fmt.Errorf("cannot create %s: %w", filepath.Dir(path), err)
	}
	if err := os.WriteFile(path, h.Template, 0o644); err != nil {
		return "", fmt.Errorf("cannot write the template: %w", err)
	}
	return path, nil
}

// IsChart tells whether dir holds a Chart.yaml.
func IsChart(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "Chart.yaml"))
	return err == nil
}
