package node

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// tsDirRE is the name of a kubelet's timestamped data directory.
var tsDirRE = regexp.MustCompile(`^\.\.\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}\.\d+$`)

// layout lists dir's entries: links with their targets, files with their
// content, the timestamped directory as TS.
func layout(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		switch {
		case e.Type()&os.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				t.Fatal(err)
			}
			if tsDirRE.MatchString(target) {
				target = "TS"
			}
			out[e.Name()] = "-> " + target
		case tsDirRE.MatchString(e.Name()):
			out["TS"] = "dir"
		case e.IsDir():
			out[e.Name()] = "dir"
		default:
			out[e.Name()] = "file"
		}
	}
	return out
}

func readVia(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestWriteAtomicLaysOutLikeAKubelet(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "vol")
	written, err := writeAtomic(dir, map[string]fileProjection{
		"redis.conf":   {data: []byte("port 6379\n"), mode: 0o644},
		"nested/a.txt": {data: []byte("a"), mode: 0o400},
	})
	if err != nil || !written {
		t.Fatalf("first write: written %v, %v", written, err)
	}
	want := map[string]string{
		"TS":         "dir",
		"..data":     "-> TS",
		"redis.conf": "-> ..data/redis.conf",
		"nested":     "-> ..data/nested",
	}
	if d := cmp.Diff(want, layout(t, dir)); d != "" {
		t.Fatalf("layout (-want +got):\n%s", d)
	}
	if got := readVia(t, filepath.Join(dir, "nested", "a.txt")); got != "a" {
		t.Errorf("nested/a.txt = %q", got)
	}
	st, err := os.Stat(filepath.Join(dir, "nested", "a.txt"))
	if err != nil || st.Mode().Perm() != 0o400 {
		t.Errorf("mode of nested/a.txt = %v (%v), want 0400", st.Mode().Perm(), err)
	}
	ts, _ := os.Readlink(filepath.Join(dir, dataLink))
	if st, err := os.Stat(filepath.Join(dir, ts)); err != nil || st.Mode().Perm() != 0o755 {
		t.Errorf("timestamped directory mode %v (%v), want 0755", st.Mode().Perm(), err)
	}

	// The same content again writes nothing.
	written, err = writeAtomic(dir, map[string]fileProjection{
		"redis.conf":   {data: []byte("port 6379\n"), mode: 0o644},
		"nested/a.txt": {data: []byte("a"), mode: 0o400},
	})
	if err != nil || written {
		t.Fatalf("unchanged write: written %v, %v", written, err)
	}
	if again, _ := os.Readlink(filepath.Join(dir, dataLink)); again != ts {
		t.Fatalf("..data moved from %s to %s without a change", ts, again)
	}

	// A new version: a new directory, the old one and the link of the gone
	// key removed, the links of kept keys unchanged.
	written, err = writeAtomic(dir, map[string]fileProjection{
		"redis.conf": {data: []byte("port 7000\n"), mode: 0o644},
		"extra":      {data: []byte("x"), mode: 0o644},
	})
	if err != nil || !written {
		t.Fatalf("second write: written %v, %v", written, err)
	}
	want = map[string]string{
		"TS":         "dir",
		"..data":     "-> TS",
		"redis.conf": "-> ..data/redis.conf",
		"extra":      "-> ..data/extra",
	}
	if d := cmp.Diff(want, layout(t, dir)); d != "" {
		t.Fatalf("layout after update (-want +got):\n%s", d)
	}
	if now, _ := os.Readlink(filepath.Join(dir, dataLink)); now == ts {
		t.Fatalf("..data still points to %s", ts)
	}
	if got := readVia(t, filepath.Join(dir, "redis.conf")); got != "port 7000\n" {
		t.Errorf("redis.conf = %q after update", got)
	}

	// A mode change alone is a change too.
	written, err = writeAtomic(dir, map[string]fileProjection{
		"redis.conf": {data: []byte("port 7000\n"), mode: 0o600},
		"extra":      {data: []byte("x"), mode: 0o644},
	})
	if err != nil || !written {
		t.Fatalf("mode change: written %v, %v", written, err)
	}
}

func TestWriteAtomicRefusesReservedAndEscapingPaths(t *testing.T) {
	for _, p := range []string{"", "/abs", "../up", "a/../../b", "..data", "..x/y"} {
		if _, err := writeAtomic(t.TempDir(), map[string]fileProjection{p: {data: nil, mode: 0o644}}); err == nil {
			t.Errorf("path %q was accepted", p)
		}
	}
}

func TestWriteAtomicKeepsNestedMountPoints(t *testing.T) {
	dir := t.TempDir()
	if _, err := writeAtomic(dir, map[string]fileProjection{"a": {data: []byte("1"), mode: 0o644}}); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "auth"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := writeAtomic(dir, map[string]fileProjection{"b": {data: []byte("2"), mode: 0o644}}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"TS": "dir", "..data": "-> TS", "b": "-> ..data/b", "auth": "dir"}
	if d := cmp.Diff(want, layout(t, dir)); d != "" {
		t.Fatalf("layout (-want +got):\n%s", d)
	}
}

func TestNestedMountpoints(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{{VolumeMounts: []corev1.VolumeMount{
			{Name: "config", MountPath: "/etc/haredis"},
			{Name: "bin", MountPath: "/etc/haredis/bin/"},
		}}},
		Containers: []corev1.Container{{VolumeMounts: []corev1.VolumeMount{
			{Name: "config", MountPath: "/etc/haredis"},
			{Name: "auth", MountPath: "/etc/haredis/auth"},
			{Name: "deeper", MountPath: "/etc/haredis/auth/more"},
			{Name: "other", MountPath: "/etc/haredis-other"},
		}}},
	}}
	got := nestedMountpoints(pod, "config")
	sort.Strings(got)
	if d := cmp.Diff([]string{"auth", "bin"}, got); d != "" {
		t.Fatalf("nested mount points (-want +got):\n%s", d)
	}
	if got := nestedMountpoints(pod, "auth"); len(got) != 1 || got[0] != "more" {
		t.Fatalf("nested mount points of auth = %v, want [more]", got)
	}
}

func TestSubPathSourceResolvesToTheCurrentData(t *testing.T) {
	dir := t.TempDir()
	if _, err := writeAtomic(dir, map[string]fileProjection{"key": {data: []byte("v1"), mode: 0o644}}); err != nil {
		t.Fatal(err)
	}
	src, err := subPathSource(dir, "key")
	if err != nil {
		t.Fatal(err)
	}
	ts, _ := os.Readlink(filepath.Join(dir, dataLink))
	real, _ := filepath.EvalSymlinks(filepath.Join(dir, ts, "key"))
	if src != real {
		t.Fatalf("subPath source %s, want the timestamped file %s", src, real)
	}
	if err := os.Symlink("/etc", filepath.Join(dir, "out")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"out", "../x", "/abs"} {
		if _, err := subPathSource(dir, p); err == nil {
			t.Errorf("subPath %q was accepted", p)
		}
	}
}

func TestFormatMapAsTheKubelet(t *testing.T) {
	got := formatMap(map[string]string{"b": "two words", "a": `q"uote` + "\n", "app.kubernetes.io/name": "x"})
	want := "a=\"q\\\"uote\\n\"\napp.kubernetes.io/name=\"x\"\nb=\"two words\""
	if got != want {
		t.Fatalf("formatMap = %q, want %q", got, want)
	}
	if formatMap(nil) != "" {
		t.Fatalf("formatMap(nil) = %q", formatMap(nil))
	}
}

func TestDownwardFilesFollowThePodsMetadata(t *testing.T) {
	r := &podRun{pod: &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
		Name: "p", Labels: map[string]string{"role": "primary", "app": "x"}, Annotations: map[string]string{"a": "1"},
	}}}
	items := []corev1.DownwardAPIVolumeFile{
		{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
		{Path: "annotations", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.annotations"}},
		{Path: "role", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['role']"}, Mode: new(int32(0o400))},
	}
	files := map[string]fileProjection{}
	if err := r.downwardFiles(items, 0o644, files); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for k, f := range files {
		got[k] = string(f.data) + " " + f.mode.String()
	}
	want := map[string]string{
		"labels":      "app=\"x\"\nrole=\"primary\" -rw-r--r--",
		"annotations": "a=\"1\" -rw-r--r--",
		"role":        "primary -r--------",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("downward files (-want +got):\n%s", d)
	}
}
