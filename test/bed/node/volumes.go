package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/haredis/haredis/test/bed/runner"
)

// setupVolumes materialises every volume of the pod under its directory
// (or, for PVCs and hostPath, finds the host directory) once.
func (r *podRun) setupVolumes() error {
	ctx, cancel := context.WithTimeout(r.ctx, 30*time.Second)
	defer cancel()
	for _, v := range r.pod.Spec.Volumes {
		r.mu.Lock()
		_, done := r.volumes[v.Name]
		r.mu.Unlock()
		if done {
			continue
		}
		path, err := r.setupVolume(ctx, v)
		if err != nil {
			return fmt.Errorf("cannot mount volume %s: %w", v.Name, err)
		}
		r.mu.Lock()
		r.volumes[v.Name] = path
		r.mu.Unlock()
	}
	return nil
}

func (r *podRun) setupVolume(ctx context.Context, v corev1.Volume) (string, error) {
	dir := filepath.Join(r.dir, "volumes", v.Name)
	ns := r.pod.Namespace
	core := r.p.cfg.Client.CoreV1()
	switch {
	case v.EmptyDir != nil:
		// World-writable whatever the umask, as a kubelet makes it.
		if err := os.MkdirAll(dir, 0o777); err != nil {
			return "", err
		}
		if err := os.Chmod(dir, 0o777); err != nil {
			return "", err
		}
		return dir, applyFSGroup(r.pod, dir, false)
	case v.HostPath != nil:
		if v.HostPath.Type != nil && *v.HostPath.Type == corev1.HostPathDirectoryOrCreate {
			if err := os.MkdirAll(v.HostPath.Path, 0o755); err != nil {
				return "", err
			}
		}
		return v.HostPath.Path, nil
	case v.PersistentVolumeClaim != nil:
		pvc, err := core.PersistentVolumeClaims(ns).Get(ctx, v.PersistentVolumeClaim.ClaimName, metav1.GetOptions{})
		if err != nil {
			return "", fmt.Errorf("cannot read PVC: %w", err)
		}
		if pvc.Spec.VolumeName == "" || pvc.Status.Phase != corev1.ClaimBound {
			return "", fmt.Errorf("PVC %s is not bound yet", pvc.Name)
		}
		pv, err := core.PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
		if err != nil {
			return "", fmt.Errorf("cannot read PV %s: %w", pvc.Spec.VolumeName, err)
		}
		switch {
		case pv.Spec.HostPath != nil:
			return pv.Spec.HostPath.Path, nil
		case pv.Spec.Local != nil:
			return pv.Spec.Local.Path, nil
		}
		return "", fmt.Errorf("PV %s is neither hostPath nor local", pv.Name)
	case apiDataVolume(v):
		if _, err := r.writeAPIData(ctx, v, dir); err != nil {
			return "", err
		}
		return dir, nil
	}
	return "", fmt.Errorf("volume type is not supported by the test bed")
}

// apiDataVolume says whether v is a configMap, secret, downwardAPI or
// projected volume: a kubelet writes these itself, keeps them up to date and
// mounts them read-only in every container.
func apiDataVolume(v corev1.Volume) bool {
	return v.ConfigMap != nil || v.Secret != nil || v.DownwardAPI != nil || v.Projected != nil
}

// writeAPIData (re)writes an API data volume in dir the way a kubelet's
// AtomicWriter does, then makes the mount points of volumes mounted beneath
// it in any container, which the container runtime could not create inside
// a read-only mount. It reports whether the content changed.
func (r *podRun) writeAPIData(ctx context.Context, v corev1.Volume, dir string) (bool, error) {
	payload, err := r.apiDataPayload(ctx, v)
	if err != nil {
		return false, err
	}
	written, err := writeAtomic(dir, payload)
	if err != nil {
		return written, fmt.Errorf("cannot write volume content: %w", err)
	}
	if err := applyFSGroup(r.pod, dir, true); err != nil {
		return written, fmt.Errorf("cannot give the volume to the pod's fsGroup: %w", err)
	}
	for _, p := range nestedMountpoints(r.pod, v.Name) {
		if err := os.MkdirAll(filepath.Join(dir, p), 0o755); err != nil {
			return written, fmt.Errorf("cannot create nested mount point %s: %w", p, err)
		}
	}
	return written, nil
}

// nestedMountpoints are the mount points of other volumes directly beneath
// one of volume's mount points, in any container of the pod, relative to
// volume (as a kubelet's MakeNestedMountpoints finds them).
func nestedMountpoints(pod *corev1.Pod, volume string) []string {
	var out []string
	for _, c := range append(append([]corev1.Container(nil), pod.Spec.InitContainers...), pod.Spec.Containers...) {
		var all, mine []string
		for _, m := range c.VolumeMounts {
			p := filepath.Clean(m.MountPath)
			all = append(all, p)
			if m.Name == volume {
				mine = append(mine, p)
			}
		}
		sort.Strings(all)
		for _, base := range mine {
			prefix := strings.TrimSuffix(base, "/") + "/"
			prev := ""
			for _, p := range all {
				if !strings.HasPrefix(p, prefix) || (prev != "" && strings.HasPrefix(p, prev)) {
					continue
				}
				prev = p + "/"
				out = append(out, p[len(prefix):])
			}
		}
	}
	return out
}

// apiDataPayload is the content of an API data volume as a kubelet would
// write it now: keys (or items) with their modes. A missing ConfigMap or
// Secret, or a missing key of items, is an error unless optional, as on a
// kubelet.
func (r *podRun) apiDataPayload(ctx context.Context, v corev1.Volume) (map[string]fileProjection, error) {
	files := map[string]fileProjection{}
	switch {
	case v.ConfigMap != nil:
		s := v.ConfigMap
		return files, r.configMapFiles(ctx, s.Name, s.Items, s.Optional, fileMode(s.DefaultMode), files)
	case v.Secret != nil:
		s := v.Secret
		return files, r.secretFiles(ctx, s.SecretName, s.Items, s.Optional, fileMode(s.DefaultMode), files)
	case v.DownwardAPI != nil:
		return files, r.downwardFiles(v.DownwardAPI.Items, fileMode(v.DownwardAPI.DefaultMode), files)
	case v.Projected != nil:
		mode := fileMode(v.Projected.DefaultMode)
		for i, src := range v.Projected.Sources {
			var err error
			switch {
			case src.ConfigMap != nil:
				err = r.configMapFiles(ctx, src.ConfigMap.Name, src.ConfigMap.Items, src.ConfigMap.Optional, mode, files)
			case src.Secret != nil:
				err = r.secretFiles(ctx, src.Secret.Name, src.Secret.Items, src.Secret.Optional, mode, files)
			case src.DownwardAPI != nil:
				err = r.downwardFiles(src.DownwardAPI.Items, mode, files)
			case src.ServiceAccountToken != nil:
				err = r.tokenFile(ctx, fmt.Sprintf("%s/%d", v.Name, i), src.ServiceAccountToken, mode, files)
			default:
				err = fmt.Errorf("projected source %d is not supported by the test bed", i)
			}
			if err != nil {
				return nil, err
			}
		}
		return files, nil
	}
	return nil, fmt.Errorf("volume %s holds no API data", v.Name)
}

// fileMode is a volume's defaultMode; the API server defaults it to 0644.
func fileMode(m *int32) os.FileMode {
	if m == nil {
		return 0o644
	}
	return os.FileMode(*m) & os.ModePerm
}

func (r *podRun) configMapFiles(ctx context.Context, name string, items []corev1.KeyToPath, optional *bool, mode os.FileMode, files map[string]fileProjection) error {
	cm, err := r.p.cfg.Client.CoreV1().ConfigMaps(r.pod.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) && isOptional(optional) {
			return nil
		}
		return fmt.Errorf("cannot read config map %s: %w", name, err)
	}
	data := map[string][]byte{}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return project(data, items, isOptional(optional), mode, files)
}

func (r *podRun) secretFiles(ctx context.Context, name string, items []corev1.KeyToPath, optional *bool, mode os.FileMode, files map[string]fileProjection) error {
	s, err := r.p.cfg.Client.CoreV1().Secrets(r.pod.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) && isOptional(optional) {
			return nil
		}
		return fmt.Errorf("cannot read secret %s: %w", name, err)
	}
	return project(s.Data, items, isOptional(optional), mode, files)
}

func project(data map[string][]byte, items []corev1.KeyToPath, optional bool, mode os.FileMode, files map[string]fileProjection) error {
	if len(items) == 0 {
		for k, v := range data {
			files[k] = fileProjection{data: v, mode: mode}
		}
		return nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if optional {
				continue
			}
			return fmt.Errorf("key %s is missing", it.Key)
		}
		files[it.Path] = fileProjection{data: v, mode: itemMode(it.Mode, mode)}
	}
	return nil
}

func itemMode(m *int32, def os.FileMode) os.FileMode {
	if m == nil {
		return def
	}
	return os.FileMode(*m) & os.ModePerm
}

func (r *podRun) downwardFiles(items []corev1.DownwardAPIVolumeFile, mode os.FileMode, files map[string]fileProjection) error {
	for _, it := range items {
		var v string
		var err error
		switch {
		case it.FieldRef != nil:
			v, err = r.fieldValue(it.FieldRef.FieldPath)
		case it.ResourceFieldRef != nil:
			v, err = r.resourceFile(it.ResourceFieldRef)
		}
		if err != nil {
			return err
		}
		files[it.Path] = fileProjection{data: []byte(v), mode: itemMode(it.Mode, mode)}
	}
	return nil
}

func (r *podRun) resourceFile(ref *corev1.ResourceFieldSelector) (string, error) {
	for _, c := range append(append([]corev1.Container(nil), r.pod.Spec.Containers...), r.pod.Spec.InitContainers...) {
		if c.Name == ref.ContainerName || ref.ContainerName == "" {
			return resourceValue(c, ref)
		}
	}
	return "", fmt.Errorf("no container %s", ref.ContainerName)
}

// tokenFile writes a service-account token bound to the pod. Like a
// kubelet's token manager it asks the API server for a new one only when
// the last is older than 80 % of its lifetime (or a day), so a refresh of the
// volume does not change the file each time.
func (r *podRun) tokenFile(ctx context.Context, key string, src *corev1.ServiceAccountTokenProjection, mode os.FileMode, files map[string]fileProjection) error {
	r.mu.Lock()
	cached, ok := r.tokens[key]
	r.mu.Unlock()
	now := time.Now()
	if !ok || !now.Before(cached.refreshAt) {
		sa := r.pod.Spec.ServiceAccountName
		if sa == "" {
			sa = "default"
		}
		req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
			ExpirationSeconds: src.ExpirationSeconds,
			BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: r.pod.Name, UID: r.pod.UID},
		}}
		if src.Audience != "" {
			req.Spec.Audiences = []string{src.Audience}
		}
		tok, err := r.p.cfg.Client.CoreV1().ServiceAccounts(r.pod.Namespace).CreateToken(ctx, sa, req, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("cannot request a token for service account %s: %w", sa, err)
		}
		ttl := tok.Status.ExpirationTimestamp.Sub(now)
		cached = issuedToken{token: tok.Status.Token, refreshAt: now.Add(min(ttl*8/10, 24*time.Hour))}
		r.mu.Lock()
		r.tokens[key] = cached
		r.mu.Unlock()
	}
	files[src.Path] = fileProjection{data: []byte(cached.token), mode: mode}
	return nil
}

// issuedToken is a service-account token the pod's volume holds.
type issuedToken struct {
	token     string
	refreshAt time.Time
}

// syncAPIData rewrites the pod's configMap, secret, downwardAPI and
// projected volumes from the API server's objects and the pod's metadata
// now, as a kubelet does at every sync of the pod. A volume whose source
// cannot be read (a ConfigMap deleted after the pod started, say) keeps its
// last content.
func (r *podRun) syncAPIData(ctx context.Context) {
	for _, v := range r.pod.Spec.Volumes {
		if !apiDataVolume(v) {
			continue
		}
		r.mu.Lock()
		dir, ok := r.volumes[v.Name]
		r.mu.Unlock()
		if !ok {
			continue
		}
		written, err := r.writeAPIData(ctx, v, dir)
		if err != nil {
			// A kubelet logs it and retries at the next sync; so does the
			// bed, without an error in the test's output each time a
			// namespace goes with its Secrets before its pods.
			if ctx.Err() == nil {
				r.log().Info("cannot update volume; it keeps its content", "volume", v.Name, "error", err.Error())
			}
			continue
		}
		if written {
			r.log().Info("volume updated", "volume", v.Name)
		}
	}
}

// refreshAPIData keeps the API data volumes up to date until the pod stops:
// after each wait of the node's volume sync period (drawn at random, see
// Config.VolumeSyncPeriod), and at once when the pod's object changed
// (resync), as a kubelet remounts these volumes whenever it syncs the pod.
func (r *podRun) refreshAPIData() {
	for {
		t := time.NewTimer(r.p.volumeSyncWait())
		select {
		case <-r.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-r.resync:
			t.Stop()
		}
		ctx, cancel := context.WithTimeout(r.ctx, 30*time.Second)
		r.syncAPIData(ctx)
		cancel()
	}
}

// containerMounts lists the binds of one container: the image's files and
// volumes, the pod's network files and its volume mounts. API data volumes
// are read-only whatever the mount says, as a kubelet mounts them.
func (r *podRun) containerMounts(c corev1.Container, img Image) ([]runner.Mount, error) {
	mounts := append([]runner.Mount(nil), img.Mounts...)
	for _, p := range img.Volumes {
		covered := false
		for _, vm := range c.VolumeMounts {
			covered = covered || filepath.Clean(vm.MountPath) == filepath.Clean(p)
		}
		if !covered {
			mounts = append(mounts, runner.Mount{Target: p, Scratch: true})
		}
	}
	if r.pod.Spec.DNSPolicy != corev1.DNSDefault {
		mounts = append(mounts, runner.Mount{Source: filepath.Join(r.dir, "resolv.conf"), Target: "/etc/resolv.conf", ReadOnly: true})
	}
	mounts = append(mounts,
		runner.Mount{Source: filepath.Join(r.dir, "hosts"), Target: "/etc/hosts", ReadOnly: true},
		runner.Mount{Source: filepath.Join(r.dir, "hostname"), Target: "/etc/hostname", ReadOnly: true},
	)
	apiData := map[string]bool{}
	for _, v := range r.pod.Spec.Volumes {
		apiData[v.Name] = apiDataVolume(v)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, vm := range c.VolumeMounts {
		src, ok := r.volumes[vm.Name]
		if !ok {
			return nil, fmt.Errorf("volume %s of mount %s is not defined", vm.Name, vm.MountPath)
		}
		if vm.SubPath != "" {
			var err error
			if src, err = subPathSource(src, vm.SubPath); err != nil {
				return nil, err
			}
		}
		mounts = append(mounts, runner.Mount{Source: src, Target: vm.MountPath, ReadOnly: vm.ReadOnly || apiData[vm.Name]})
	}
	return mounts, nil
}

// subPathSource is the host path a subPath mount binds: created as a
// directory when missing, with links resolved (inside the volume only), as a
// kubelet does. In an API data volume that is the file in the current
// timestamped directory, so a subPath mount is not updated afterwards.
func subPathSource(volume, subPath string) (string, error) {
	if filepath.IsAbs(subPath) || slices.Contains(strings.Split(subPath, "/"), "..") {
		return "", fmt.Errorf("subPath %q must be relative and must not contain '..'", subPath)
	}
	src := filepath.Join(volume, subPath)
	if _, err := os.Lstat(src); os.IsNotExist(err) {
		if err := os.MkdirAll(src, 0o755); err != nil {
			return "", err
		}
	}
	base, err := filepath.EvalSymlinks(volume)
	if err != nil {
		return "", err
	}
	resolved, err := filepath.EvalSymlinks(src)
	if err != nil {
		return "", fmt.Errorf("cannot resolve subPath %q: %w", subPath, err)
	}
	if resolved != base && !strings.HasPrefix(resolved, base+"/") {
		return "", fmt.Errorf("subPath %q leads out of its volume", subPath)
	}
	return resolved, nil
}
