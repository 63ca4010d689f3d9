package main

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// TestImageIsReproducibleAndRuns builds the image twice from this
// repository: the same digest and the same bytes; then reads it back from
// its OCI layout and runs the binary it holds.
func TestImageIsReproducibleAndRuns(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	o := Options{Repo: root, Name: "haredis/haredis", Version: "v9.8.7-test", Revision: "0123abcd", Source: "https://example.test/haredis",
		Arch: "amd64", Created: time.Unix(1764000000, 0).UTC()}
	var digests []string
	var tars [][]byte
	for i, out := range []string{"a.tar", "b.tar"} {
		o.Output = filepath.Join(dir, out)
		res, err := Build(o)
		if err != nil {
			t.Fatalf("build %d: %v", i, err)
		}
		b, err := os.ReadFile(o.Output)
		if err != nil {
			t.Fatal(err)
		}
		digests, tars = append(digests, res.Digest.String()), append(tars, b)
	}
	if digests[0] != digests[1] || !bytes.Equal(tars[0], tars[1]) {
		t.Fatalf("two builds of the same commit differ: %s and %s", digests[0], digests[1])
	}

	// Read back from the OCI layout, as crane or skopeo would.
	ld := filepath.Join(dir, "layout")
	names := untar(t, tars[0], ld)
	for _, want := range []string{"oci-layout", "index.json", "manifest.json"} {
		if !names[want] {
			t.Errorf("the archive has no %s (for %s)", want, map[string]string{"oci-layout": "OCI tools", "index.json": "OCI tools", "manifest.json": "docker load"}[want])
		}
	}
	p, err := layout.FromPath(ld)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil || len(im.Manifests) != 1 {
		t.Fatalf("index: %v, %+v", err, im)
	}
	desc := im.Manifests[0]
	if desc.Digest.String() != digests[0] || desc.MediaType != types.OCIManifestSchema1 || desc.Annotations["io.containerd.image.name"] != "docker.io/haredis/haredis:v9.8.7-test" {
		t.Errorf("index entry %+v", desc)
	}
	img, err := idx.Image(desc.Digest)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Config.User != "65532:65532" || cf.OS != "linux" || !cf.Created.Equal(o.Created) {
		t.Errorf("config: user %q, os %q, created %s", cf.Config.User, cf.OS, cf.Created)
	}
	for k, want := range map[string]string{"org.opencontainers.image.version": "v9.8.7-test", "org.opencontainers.image.revision": "0123abcd",
		"org.opencontainers.image.source": "https://example.test/haredis"} {
		if cf.Config.Labels[k] != want {
			t.Errorf("label %s = %q, want %q", k, cf.Config.Labels[k], want)
		}
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %v, %d", err, len(layers))
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	rootfs, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	fsDir := filepath.Join(dir, "rootfs")
	files := untar(t, rootfs, fsDir)
	for _, want := range []string{"etc/passwd", "etc/group", BinaryPath} {
		if !files[want] {
			t.Errorf("the image has no /%s", want)
		}
	}
	passwd, _ := os.ReadFile(filepath.Join(fsDir, "etc/passwd"))
	if !strings.Contains(string(passwd), "nonroot:x:65532:65532:") {
		t.Errorf("/etc/passwd:\n%s", passwd)
	}
	out, err := exec.Command(filepath.Join(fsDir, BinaryPath), "version").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "v9.8.7-test" {
		t.Fatalf("the image's haredis version: %q, %v", out, err)
	}
}

// untar writes the regular files and directories of b under dir and
// returns their names.
func untar(t *testing.T, b []byte, dir string) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(h.Name, "/")
		names[name] = true
		path := filepath.Join(dir, name)
		if h.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(path, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, os.FileMode(h.Mode)&0o777|0o600); err != nil {
			t.Fatal(err)
		}
	}
}
