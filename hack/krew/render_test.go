package main

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// manifest is the part of krew's Plugin (v1alpha2) the checks read.
type manifest struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Version          string `json:"version"`
		Homepage         string `json:"homepage"`
		ShortDescription string `json:"shortDescription"`
		Description      string `json:"description"`
		Platforms        []struct {
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			URI    string `json:"uri"`
			SHA256 string `json:"sha256"`
			Bin    string `json:"bin"`
		} `json:"platforms"`
	} `json:"spec"`
}

// The manifest in the repository renders, for every platform `make
// plugin-dist` builds, to the archive of that platform with its sha256
// and the binary's name.
func TestManifestCoversTheBuiltPlatforms(t *testing.T) {
	platforms := distPlatforms(t)
	dist := t.TempDir()
	sums := map[string]string{}
	for _, p := range platforms {
		name := "kubectl-haredis_" + strings.ReplaceAll(p, "/", "_") + ".tar.gz"
		data := []byte("archive of " + p)
		if err := os.WriteFile(filepath.Join(dist, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
		s := sha256.Sum256(data)
		sums[p] = hex.EncodeToString(s[:])
	}
	tmpl, err := os.ReadFile("../../plugins/haredis.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out, err := Render(string(tmpl), "v1.2.3", dist)
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := yaml.UnmarshalStrict([]byte(stripComments(out)), &m, yaml.DisallowUnknownFields); err != nil {
		t.Fatalf("the rendered manifest does not parse: %v\n%s", err, out)
	}
	if m.APIVersion != "krew.googlecontainertools.github.com/v1alpha2" || m.Kind != "Plugin" || m.Metadata.Name != "haredis" || m.Spec.Version != "v1.2.3" || len(m.Spec.ShortDescription) > 80 {
		t.Errorf("manifest header: %+v", m)
	}
	seen := map[string]bool{}
	for _, p := range m.Spec.Platforms {
		key := p.Selector.MatchLabels["os"] + "/" + p.Selector.MatchLabels["arch"]
		seen[key] = true
		wantBin := "kubectl-haredis"
		if p.Selector.MatchLabels["os"] == "windows" {
			wantBin += ".exe"
		}
		wantURI := "https://github.com/haredis/haredis/releases/download/v1.2.3/kubectl-haredis_" + strings.ReplaceAll(key, "/", "_") + ".tar.gz"
		if p.URI != wantURI || p.SHA256 != sums[key] || p.Bin != wantBin {
			t.Errorf("platform %s: %+v; want uri %s, sha256 %s, bin %s", key, p, wantURI, sums[key], wantBin)
		}
	}
	for _, p := range platforms {
		if !seen[p] {
			t.Errorf("platform %s is built but not in the manifest", p)
		}
	}
	if len(seen) != len(platforms) {
		t.Errorf("the manifest has %d platforms, make plugin-dist builds %d", len(seen), len(platforms))
	}
}

// distPlatforms reads PLUGIN_PLATFORMS from mk/plugin.mk.
func distPlatforms(t *testing.T) []string {
	t.Helper()
	mk, err := os.ReadFile("../../mk/plugin.mk")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^PLUGIN_PLATFORMS\s*:?=\s*(.+)$`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("no PLUGIN_PLATFORMS in mk/plugin.mk")
	}
	return strings.Fields(string(m[1]))
}

func stripComments(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
