package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/haredis/haredis/test/bed/node"
)

// apiDataPod mounts a ConfigMap (with a Secret nested in it, as haredis's
// pods do), a downwardAPI volume, a projected volume, a subPath of the
// ConfigMap and an emptyDir. Each mount asks for read-write: a kubelet
// mounts API data read-only whatever the mount says. The downwardAPI volume
// comes last: a kubelet, and the bed, rewrite volumes in the pod's order.
func apiDataPod(t *testing.T, ns string) {
	t.Helper()
	ctx := context.Background()
	if _, err := bed.Client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "conf", Namespace: ns},
		Data:       map[string]string{"redis.conf": "maxmemory 10mb\n", "other": "x"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := bed.Client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "auth", Namespace: ns},
		StringData: map[string]string{"password": "s3cret"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	field := func(path, fieldPath string) corev1.DownwardAPIVolumeFile {
		return corev1.DownwardAPIVolumeFile{Path: path, FieldRef: &corev1.ObjectFieldSelector{FieldPath: fieldPath}}
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: "api-data", Namespace: ns,
			Labels:      map[string]string{"app": "bed", "role": "replica"},
			Annotations: map[string]string{"note": `say "hi"`},
		},
		Spec: corev1.PodSpec{
			Volumes: []corev1.Volume{
				{Name: "conf", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "conf"}}}},
				{Name: "auth", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
					SecretName: "auth", Items: []corev1.KeyToPath{{Key: "password", Path: "password"}}, DefaultMode: new(int32(0o400)),
				}}},
				{Name: "proj", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
					{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "conf"},
						Items: []corev1.KeyToPath{{Key: "redis.conf", Path: "conf/redis.conf"}}}},
					{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "auth"}}},
					{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{field("name", "metadata.name")}}},
					{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}},
				}}}},
				{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "meta", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
					field("labels", "metadata.labels"),
					field("annotations", "metadata.annotations"),
					field("role", "metadata.labels['role']"),
				}}}},
			},
			Containers: []corev1.Container{{
				Name: "main", Image: "redis:7.0", Command: []string{"sleep", "3600"},
				VolumeMounts: []corev1.VolumeMount{
					{Name: "conf", MountPath: "/etc/cfg", ReadOnly: false},
					{Name: "auth", MountPath: "/etc/cfg/auth"},
					{Name: "proj", MountPath: "/etc/proj"},
					{Name: "meta", MountPath: "/etc/meta"},
					{Name: "conf", MountPath: "/etc/sub/redis.conf", SubPath: "redis.conf"},
					{Name: "scratch", MountPath: "/scratch"},
				},
			}},
		},
	}
	createPod(t, pod)
	waitFor(t, time.Minute, "pod running", func(context.Context) (bool, error) {
		p := getPod(t, ns, "api-data")
		s := p.Status.ContainerStatuses
		return len(s) == 1 && s[0].State.Running != nil, nil
	})
}

// sh runs a shell script in the pod's container and returns its output
// (stdout then stderr), trimmed.
func sh(t *testing.T, ns, pod, script string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, errOut, _, err := bed.Exec(ctx, ns, pod, "", "sh", "-c", script)
	if err != nil {
		t.Fatalf("exec %q: %v", script, err)
	}
	return strings.TrimSpace(out + errOut)
}

// waitContent waits until path in the pod reads want and returns how long
// that took from start.
func waitContent(t *testing.T, ns, pod, path, want string, start time.Time, timeout time.Duration) time.Duration {
	t.Helper()
	var got string
	if err := waitUntil(context.Background(), timeout, func() bool {
		got = sh(t, ns, pod, "cat "+path)
		return got == want
	}); err != nil {
		t.Fatalf("%s reads %q after %s, want %q", path, got, timeout, want)
	}
	return time.Since(start)
}

func waitUntil(ctx context.Context, timeout time.Duration, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if cond() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// kubeletFormat writes labels or annotations as a kubelet does in a
// downwardAPI file: sorted key="value" lines, values quoted as Go's %q, no
// final newline.
func kubeletFormat(m map[string]string) string {
	keys := slices.Sorted(maps.Keys(m))
	lines := make([]string, 0, len(keys))
	for _, k := range keys {
		lines = append(lines, fmt.Sprintf("%s=%q", k, m[k]))
	}
	return strings.Join(lines, "\n")
}

var tsDirRE = regexp.MustCompile(`^\.\.\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}\.\d+$`)

func TestAPIDataVolumesAreReadOnlyAndLaidOutLikeAKubelet(t *testing.T) {
	ns := namespace(t)
	apiDataPod(t, ns)
	// Every write into API data fails with EROFS, through the key's link,
	// beside it, and in the nested Secret; the emptyDir stays writable.
	for _, path := range []string{"/etc/cfg/redis.conf", "/etc/cfg/new", "/etc/cfg/auth/password", "/etc/proj/conf/redis.conf", "/etc/proj/token", "/etc/meta/labels", "/etc/sub/redis.conf"} {
		if got := sh(t, ns, "api-data", "echo x > "+path); !strings.Contains(got, "Read-only file system") {
			t.Errorf("writing %s: %q, want Read-only file system (EROFS)", path, got)
		}
	}
	for _, script := range []string{"rm /etc/cfg/redis.conf", "mv /etc/cfg/..data /etc/cfg/x", "mkdir /etc/meta/d"} {
		if got := sh(t, ns, "api-data", script); !strings.Contains(got, "Read-only file system") {
			t.Errorf("%s: %q, want Read-only file system (EROFS)", script, got)
		}
	}
	if got := sh(t, ns, "api-data", "echo x > /scratch/f && cat /scratch/f"); got != "x" {
		t.Errorf("the emptyDir is not writable: %q", got)
	}

	// The layout: ..data links to a timestamped directory, each key links
	// to ..data/KEY, the nested Secret's mount point is a plain directory.
	ts := sh(t, ns, "api-data", "readlink /etc/cfg/..data")
	if !tsDirRE.MatchString(ts) {
		t.Errorf("..data -> %q, want a timestamped directory", ts)
	}
	if got, want := sh(t, ns, "api-data", "ls -A /etc/cfg | tr '\\n' ' '"), ts+" ..data auth other redis.conf"; got != want {
		t.Errorf("ls -A /etc/cfg = %q, want %q", got, want)
	}
	for link, want := range map[string]string{"/etc/cfg/redis.conf": "..data/redis.conf", "/etc/proj/conf": "..data/conf", "/etc/meta/labels": "..data/labels"} {
		if got := sh(t, ns, "api-data", "readlink "+link); got != want {
			t.Errorf("readlink %s = %q, want %q", link, got, want)
		}
	}
	if got := sh(t, ns, "api-data", "readlink -f /etc/cfg/auth/password; stat -L -c %a /etc/cfg/auth/password; cat /etc/cfg/auth/password"); !regexp.MustCompile(`^/etc/cfg/auth/\.\.\d{4}_[0-9_.]+/password\n400\ns3cret$`).MatchString(got) {
		t.Errorf("the nested secret: %q", got)
	}
	if got := sh(t, ns, "api-data", "cat /etc/proj/conf/redis.conf /etc/proj/password /etc/proj/name; test -s /etc/proj/token && echo token"); got != "maxmemory 10mb\ns3cretapi-datatoken" {
		t.Errorf("the projected volume: %q", got)
	}
	// Labels and annotations as a kubelet writes them. The API server adds
	// the node's topology labels to a pod when it binds it.
	labels := kubeletFormat(getPod(t, ns, "api-data").Labels)
	if !strings.HasPrefix(labels, "app=\"bed\"\nrole=\"replica\"") {
		t.Errorf("labels as the kubelet formats them: %q", labels)
	}
	if got, want := sh(t, ns, "api-data", "cat /etc/meta/labels; echo; cat /etc/meta/annotations; echo; cat /etc/meta/role"),
		labels+"\nnote=\"say \\\"hi\\\"\"\nreplica"; got != want {
		t.Errorf("downwardAPI files = %q, want %q", got, want)
	}
}

func TestConfigMapAndSecretChangesReachARunningPod(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	apiDataPod(t, ns)
	h, err := bed.Pod(ctx, ns, "api-data")
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := h.PID("main")
	// Within the bed's sync period and its jitter, plus the informer's and
	// the poll's delays.
	bound := 2*node.DefaultVolumeSyncPeriod + 5*time.Second

	start := time.Now()
	patch := []byte(`{"data":{"redis.conf":"maxmemory 20mb\n"}}`)
	if _, err := bed.Client.CoreV1().ConfigMaps(ns).Patch(ctx, "conf", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	took := waitContent(t, ns, "api-data", "/etc/cfg/redis.conf", "maxmemory 20mb", start, bound)
	t.Logf("a ConfigMap change reached the pod's file after %s", took.Round(10*time.Millisecond))
	waitContent(t, ns, "api-data", "/etc/proj/conf/redis.conf", "maxmemory 20mb", start, bound)
	// A subPath mount keeps what it had when the container started.
	if got := sh(t, ns, "api-data", "cat /etc/sub/redis.conf"); got != "maxmemory 10mb" {
		t.Errorf("the subPath mount reads %q, want the content at the container's start", got)
	}

	start = time.Now()
	patch = []byte(`{"stringData":{"password":"n3w"}}`)
	if _, err := bed.Client.CoreV1().Secrets(ns).Patch(ctx, "auth", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	took = waitContent(t, ns, "api-data", "/etc/cfg/auth/password", "n3w", start, bound)
	t.Logf("a Secret change reached the pod's file after %s", took.Round(10*time.Millisecond))

	// A deleted ConfigMap leaves the last content. Two label changes make
	// sure a whole rewrite of the pod's volumes began after the deletion.
	if err := bed.Client.CoreV1().ConfigMaps(ns).Delete(ctx, "conf", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, role := range []string{"primary", "replica"} {
		setLabel(t, ns, "api-data", "role", role)
		waitContent(t, ns, "api-data", "/etc/meta/role", role, time.Now(), 10*time.Second)
	}
	if got := sh(t, ns, "api-data", "cat /etc/cfg/redis.conf /etc/cfg/other"); got != "maxmemory 20mb\nx" {
		t.Errorf("after the ConfigMap's deletion the pod reads %q, want its last content", got)
	}
	p := getPod(t, ns, "api-data")
	if newPID, _ := h.PID("main"); newPID != pid || p.Status.ContainerStatuses[0].RestartCount != 0 {
		t.Errorf("the container restarted: pid %d -> %d, restarts %d", pid, newPID, p.Status.ContainerStatuses[0].RestartCount)
	}
}

func setLabel(t *testing.T, ns, pod, key, value string) {
	t.Helper()
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]string{key: value}}})
	if _, err := bed.Client.CoreV1().Pods(ns).Patch(context.Background(), pod, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestLabelAndAnnotationChangesReachDownwardAPIFilesPromptly(t *testing.T) {
	ns := namespace(t)
	apiDataPod(t, ns)
	start := time.Now()
	setLabel(t, ns, "api-data", "role", "primary")
	took := waitContent(t, ns, "api-data", "/etc/meta/role", "primary", start, 5*time.Second)
	waitContent(t, ns, "api-data", "/etc/meta/labels", kubeletFormat(getPod(t, ns, "api-data").Labels), start, 5*time.Second)
	t.Logf("a label change reached the downwardAPI file after %s", took.Round(10*time.Millisecond))

	start = time.Now()
	patch := []byte(`{"metadata":{"annotations":{"note":null,"b":"2"}}}`)
	if _, err := bed.Client.CoreV1().Pods(ns).Patch(context.Background(), "api-data", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	took = waitContent(t, ns, "api-data", "/etc/meta/annotations", "b=\"2\"", start, 5*time.Second)
	t.Logf("an annotation change reached the downwardAPI file after %s", took.Round(10*time.Millisecond))
}

func TestWorkingDirectoryIsTheImagesUnlessSet(t *testing.T) {
	ns := namespace(t)
	dir := "/var/lib/haredis-bed-wd-" + ns
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "wd", Namespace: ns},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{
				// The redis image's WORKDIR and VOLUME /data: an empty
				// directory of the container's own.
				{Name: "image", Image: "redis:7.0", Command: []string{"sh", "-c", "pwd; ls -A | wc -l; touch f && echo ok"}},
				{Name: "set", Image: "redis:7.0", Command: []string{"pwd"}, WorkingDir: dir},
			},
		},
	}
	createPod(t, pod)
	waitFor(t, time.Minute, "pod succeeded", func(context.Context) (bool, error) {
		p := getPod(t, ns, "wd")
		if p.Status.Phase == corev1.PodFailed {
			t.Fatalf("pod failed: %+v", p.Status.ContainerStatuses)
		}
		return p.Status.Phase == corev1.PodSucceeded, nil
	})
	for c, want := range map[string]string{"image": "/data\n0\nok\n", "set": dir + "\n"} {
		logs, err := bed.Client.CoreV1().Pods(ns).GetLogs("wd", &corev1.PodLogOptions{Container: c}).DoRaw(context.Background())
		if err != nil || string(logs) != want {
			t.Errorf("container %s logged %q (%v), want %q", c, logs, err, want)
		}
	}
	for _, p := range []string{dir, "/data/f"} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("the host got %s: %v", p, err)
		}
	}
}
