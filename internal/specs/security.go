package specs

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// PodUser runs every container haredis creates: the user (and group) the
// official redis and valkey images create for their server. fsGroup gives
// it the volumes, including data written by an earlier version that ran
// as root (the kubelet hands them over once, where the storage supports
// fsGroup).
const PodUser = 999

// harden makes a pod acceptable to the Pod Security Standards' restricted
// profile: non-root, no privilege escalation, no capabilities, read-only
// root filesystem (every write goes to a volume), RuntimeDefault seccomp,
// and no service-account token, which nothing in the pod uses.
func harden(ps *corev1.PodSpec) {
	ps.AutomountServiceAccountToken = ptr.To(false)
	ps.SecurityContext = &corev1.PodSecurityContext{
		RunAsNonRoot:        ptr.To(true),
		RunAsUser:           ptr.To[int64](PodUser),
		RunAsGroup:          ptr.To[int64](PodUser),
		FSGroup:             ptr.To[int64](PodUser),
		FSGroupChangePolicy: ptr.To(corev1.FSGroupChangeOnRootMismatch),
		SeccompProfile:      &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	for _, cs := range [][]corev1.Container{ps.InitContainers, ps.Containers} {
		for i := range cs {
			cs[i].SecurityContext = &corev1.SecurityContext{
				AllowPrivilegeEscalation: ptr.To(false),
				ReadOnlyRootFilesystem:   ptr.To(true),
				Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			}
		}
	}
}
