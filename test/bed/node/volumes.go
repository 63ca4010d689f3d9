package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
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
		return dir, os.MkdirAll(dir, 0o777)
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
	}
	files := map[string][]byte{}
	var err error
	switch {
	case v.ConfigMap != nil:
		err = r.configMapFiles(ctx, v.ConfigMap.Name, v.ConfigMap.Items, v.ConfigMap.Optional, files)
	case v.Secret != nil:
		err = r.secretFiles(ctx, v.Secret.SecretName, v.Secret.Items, v.Secret.Optional, files)
	case v.DownwardAPI != nil:
		err = r.downwardFiles(v.DownwardAPI.Items, files)
	case v.Projected != nil:
		for _, src := range v.Projected.Sources {
			switch {
			case src.ConfigMap != nil:
				err = r.configMapFiles(ctx, src.ConfigMap.Name, src.ConfigMap.Items, src.ConfigMap.Optional, files)
			case src.Secret != nil:
				err = r.secretFiles(ctx, src.Secret.Name, src.Secret.Items, src.Secret.Optional, files)
			case src.DownwardAPI != nil:
				err = r.downwardFiles(src.DownwardAPI.Items, files)
			case src.ServiceAccountToken != nil:
				err = r.tokenFile(ctx, src.ServiceAccountToken, files)
			}
			if err != nil {
				break
			}
		}
	default:
		return "", fmt.Errorf("volume type is not supported by the test bed")
	}
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	for name, data := range files {
		p := filepath.Join(dir, filepath.Clean("/"+name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return "", err
		}
	}
	return dir, nil
}

func (r *podRun) configMapFiles(ctx context.Context, name string, items []corev1.KeyToPath, optional *bool, files map[string][]byte) error {
	cm, err := r.p.cfg.Client.CoreV1().ConfigMaps(r.pod.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return optionalErr(optional, fmt.Errorf("cannot read config map %s: %w", name, err))
	}
	data := map[string][]byte{}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return project(data, items, files)
}

func (r *podRun) secretFiles(ctx context.Context, name string, items []corev1.KeyToPath, optional *bool, files map[string][]byte) error {
	s, err := r.p.cfg.Client.CoreV1().Secrets(r.pod.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return optionalErr(optional, fmt.Errorf("cannot read secret %s: %w", name, err))
	}
	return project(s.Data, items, files)
}

func project(data map[string][]byte, items []corev1.KeyToPath, files map[string][]byte) error {
	if len(items) == 0 {
		for k, v := range data {
			files[k] = v
		}
		return nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			return fmt.Errorf("key %s is missing", it.Key)
		}
		files[it.Path] = v
	}
	return nil
}

func (r *podRun) downwardFiles(items []corev1.DownwardAPIVolumeFile, files map[string][]byte) error {
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
		files[it.Path] = []byte(v)
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

// tokenFile asks the API server for a service-account token bound to the pod.
func (r *podRun) tokenFile(ctx context.Context, src *corev1.ServiceAccountTokenProjection, files map[string][]byte) error {
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
	files[src.Path] = []byte(tok.Status.Token)
	return nil
}

// containerMounts lists the binds of one container: the image's files, the
// pod's network files and its volume mounts.
func (r *podRun) containerMounts(c corev1.Container, img Image) ([]runner.Mount, error) {
	mounts := append([]runner.Mount(nil), img.Mounts...)
	if r.pod.Spec.DNSPolicy != corev1.DNSDefault {
		mounts = append(mounts, runner.Mount{Source: filepath.Join(r.dir, "resolv.conf"), Target: "/etc/resolv.conf", ReadOnly: true})
	}
	mounts = append(mounts,
		runner.Mount{Source: filepath.Join(r.dir, "hosts"), Target: "/etc/hosts", ReadOnly: true},
		runner.Mount{Source: filepath.Join(r.dir, "hostname"), Target: "/etc/hostname", ReadOnly: true},
	)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, vm := range c.VolumeMounts {
		src, ok := r.volumes[vm.Name]
		if !ok {
			return nil, fmt.Errorf("volume %s of mount %s is not defined", vm.Name, vm.MountPath)
		}
		if vm.SubPath != "" {
			if strings.Contains(vm.SubPath, "..") {
				return nil, fmt.Errorf("subPath %q must not contain '..'", vm.SubPath)
			}
			src = filepath.Join(src, vm.SubPath)
			if _, err := os.Stat(src); os.IsNotExist(err) {
				if err := os.MkdirAll(src, 0o755); err != nil {
					return nil, err
				}
			}
		}
		mounts = append(mounts, runner.Mount{Source: src, Target: vm.MountPath, ReadOnly: vm.ReadOnly})
	}
	return mounts, nil
}
