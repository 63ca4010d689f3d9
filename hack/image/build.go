package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// NonRoot is the user and group the image runs as.
const NonRoot = 65532

// BinaryPath is where the image holds haredis; the operator copies it from
// there into the Redis and sentinel pods.
const BinaryPath = "usr/local/bin/haredis"

// Options says what to build.
type Options struct {
	Repo, Output                    string
	Name, Version, Revision, Source string
	Arch                            string
	Created                         time.Time
}

// Result is what was built.
type Result struct {
	// Digest is the image manifest's digest.
	Digest v1.Hash
}

// Build compiles haredis and writes its image to o.Output.
func Build(o Options) (Result, error) {
	tmp, err := os.MkdirTemp("", "haredis-image-")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(tmp)
	bin, err := compile(o, filepath.Join(tmp, "haredis"))
	if err != nil {
		return Result{}, err
	}
	img, err := Image(bin, o)
	if err != nil {
		return Result{}, err
	}
	digest, err := img.Digest()
	if err != nil {
		return Result{}, fmt.Errorf("cannot compute the image's digest: %w", err)
	}
	if err := writeArchive(img, o, filepath.Join(tmp, "layout")); err != nil {
		return Result{}, err
	}
	return Result{Digest: digest}, nil
}

// compile builds a static haredis for linux/o.Arch, the same bytes for the
// same source wherever it is built.
func compile(o Options, out string) ([]byte, error) {
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false",
		"-ldflags", "-s -w -buildid= -X github.com/haredis/haredis/internal/version.Version="+o.Version,
		"-o", out, "./cmd/haredis")
	cmd.Dir = o.Repo
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+o.Arch, "GOFLAGS=-mod=readonly")
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("cannot build haredis: %w\n%s", err, b)
	}
	return os.ReadFile(out)
}

// Image is the image of binary: one layer with the user database and the
// binary, every time stamp o.Created.
func Image(binary []byte, o Options) (v1.Image, error) {
	layerTar, err := rootfs(binary, o.Created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("cannot make the layer: %w", err)
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{Layer: layer, MediaType: types.OCILayer,
		History: v1.History{Created: v1.Time{Time: o.Created}, CreatedBy: "make image", Comment: "haredis " + o.Version}})
	if err != nil {
		return nil, fmt.Errorf("cannot add the layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Created = v1.Time{Time: o.Created}
	cf.OS, cf.Architecture = "linux", o.Arch
	cf.Config.User = fmt.Sprintf("%d:%d", NonRoot, NonRoot)
	cf.Config.Entrypoint = []string{"/" + BinaryPath}
	cf.Config.Env = []string{"PATH=/usr/local/bin"}
	cf.Config.WorkingDir = "/"
	cf.Config.Labels = Labels(o)
	return mutate.ConfigFile(img, cf)
}

// Labels are the OCI annotations of the image's config.
func Labels(o Options) map[string]string {
	l := map[string]string{
		"org.opencontainers.image.title":       "haredis",
		"org.opencontainers.image.description": "The haredis operator for highly available Redis and Valkey, and the binary of its instance manager, sentinel runner and proxy",
		"org.opencontainers.image.version":     o.Version,
		"org.opencontainers.image.source":      o.Source,
		"org.opencontainers.image.created":     o.Created.Format(time.RFC3339),
	}
	if o.Revision != "" {
		l["org.opencontainers.image.revision"] = o.Revision
	}
	return l
}

// rootfs is the layer: /etc/passwd and /etc/group with the non-root user,
// its home, and the binary.
func rootfs(binary []byte, at time.Time) ([]byte, error) {
	type entry struct {
		name     string
		mode     int64
		uid      int
		contents []byte
		dir      bool
	}
	nr := fmt.Sprint(NonRoot)
	entries := []entry{
		{name: "etc/", mode: 0o755, dir: true},
		{name: "etc/group", mode: 0o644, contents: []byte("root:x:0:\nnonroot:x:" + nr + ":\n")},
		{name: "etc/passwd", mode: 0o644, contents: []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:" + nr + ":" + nr + ":nonroot:/home/nonroot:/sbin/nologin\n")},
		{name: "home/", mode: 0o755, dir: true},
		{name: "home/nonroot/", mode: 0o700, uid: NonRoot, dir: true},
		{name: "tmp/", mode: 0o1777, dir: true},
		{name: "usr/", mode: 0o755, dir: true},
		{name: "usr/local/", mode: 0o755, dir: true},
		{name: "usr/local/bin/", mode: 0o755, dir: true},
		{name: BinaryPath, mode: 0o755, contents: binary},
	}
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, Uid: e.uid, Gid: e.uid, ModTime: at, Format: tar.FormatPAX, Typeflag: tar.TypeReg, Size: int64(len(e.contents))}
		if e.dir {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.contents); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// writeArchive writes img in OCI layout under dir, adds a Docker
// manifest.json for docker load, and tars the whole into o.Output with
// every time stamp o.Created.
func writeArchive(img v1.Image, o Options, dir string) error {
	ref := o.Name + ":" + o.Version
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("cannot start the OCI layout: %w", err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": o.Version,
		"io.containerd.image.name":          normalized(ref),
	})); err != nil {
		return fmt.Errorf("cannot write the image in OCI layout: %w", err)
	}
	cfg, err := img.ConfigName()
	if err != nil {
		return err
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	docker := []map[string]any{{"Config": "blobs/sha256/" + cfg.Hex, "RepoTags": []string{ref}}}
	var paths []string
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return err
		}
		paths = append(paths, "blobs/sha256/"+d.Hex)
	}
	docker[0]["Layers"] = paths
	b, err := json.Marshal(docker)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), b, 0o644); err != nil {
		return err
	}
	return tarDir(dir, o.Output, o.Created)
}

// normalized is ref as containerd names it (docker.io/ for a name without
// a registry).
func normalized(ref string) string {
	first := strings.SplitN(ref, "/", 2)[0]
	if !strings.ContainsAny(first, ".:") && first != "localhost" {
		return "docker.io/" + ref
	}
	return ref
}

// tarDir writes the files under dir to out in name order, owned by root,
// dated at, then renames it into place.
func tarDir(dir, out string, at time.Time) error {
	var names []string
	if err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		names = append(names, path)
		return nil
	}); err != nil {
		return err
	}
	sort.Strings(names)
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(out), ".haredis-image-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	tw := tar.NewWriter(f)
	for _, path := range names {
		rel, _ := filepath.Rel(dir, path)
		st, err := os.Stat(path)
		if err != nil {
			return err
		}
		h := &tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, ModTime: at, Format: tar.FormatPAX, Typeflag: tar.TypeReg, Size: st.Size()}
		if st.IsDir() {
			h.Name, h.Mode, h.Typeflag, h.Size = h.Name+"/", 0o755, tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if !st.IsDir() {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if _, err := tw.Write(b); err != nil {
				return err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), out)
}
