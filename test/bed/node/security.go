package node

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"

	"github.com/haredis/haredis/test/bed/runner"
)

// containerUser is the identity a kubelet gives container c of pod: the
// container's runAsUser and runAsGroup over the pod's, the pod's fsGroup
// and supplementalGroups as supplementary groups. Nil means the image's
// user, root on the bed (its images declare none). runAsNonRoot with root
// is refused, as a kubelet refuses it.
func containerUser(pod *corev1.Pod, c corev1.Container) (*runner.User, error) {
	var uid, gid *int64
	nonRoot := false
	if ps := pod.Spec.SecurityContext; ps != nil {
		uid, gid = ps.RunAsUser, ps.RunAsGroup
		nonRoot = ps.RunAsNonRoot != nil && *ps.RunAsNonRoot
	}
	if cs := c.SecurityContext; cs != nil {
		if cs.RunAsUser != nil {
			uid = cs.RunAsUser
		}
		if cs.RunAsGroup != nil {
			gid = cs.RunAsGroup
		}
		if cs.RunAsNonRoot != nil {
			nonRoot = *cs.RunAsNonRoot
		}
	}
	if uid == nil || *uid == 0 {
		if nonRoot {
			return nil, fmt.Errorf("container %s has runAsNonRoot and its image will run as root (the bed's images declare no user: set runAsUser)", c.Name)
		}
		if uid == nil {
			return nil, nil
		}
	}
	u := &runner.User{UID: int(*uid)}
	if gid != nil {
		u.GID = int(*gid)
	}
	if ps := pod.Spec.SecurityContext; ps != nil {
		if ps.FSGroup != nil {
			u.Groups = append(u.Groups, int(*ps.FSGroup))
		}
		for _, g := range ps.SupplementalGroups {
			u.Groups = append(u.Groups, int(g))
		}
	}
	return u, nil
}

// applyFSGroup hands a volume the kubelet manages (an emptyDir, an API
// data volume) to the pod's fsGroup as a kubelet does: group fsGroup,
// group-readable, and group-writable unless the volume is read-only.
func applyFSGroup(pod *corev1.Pod, dir string, readOnly bool) error {
	ps := pod.Spec.SecurityContext
	if ps == nil || ps.FSGroup == nil {
		return nil
	}
	gid := int(*ps.FSGroup)
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if err := os.Lchown(path, -1, gid); err != nil {
			return err
		}
		mask := fs.FileMode(0o660)
		if readOnly {
			mask = 0o440
		}
		if d.IsDir() {
			mask |= fs.ModeSetgid | 0o110
		}
		return os.Chmod(path, info.Mode()|mask)
	})
}
