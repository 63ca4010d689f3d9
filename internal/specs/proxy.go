package specs

import (
	"github.com/haredis/haredis/internal/certs"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/proxyapi"
)

// ProxyName is the proxy Deployment and its PodDisruptionBudget.
func ProxyName(rf *haredisv1.RedisFailover) string { return rf.Name + "-proxy" }

// ProxyDeployment runs `haredis proxy` from the operator image: it follows
// the dedicated sentinels by their stable names and always forwards to the
// primary they elected. It is ready once it has confirmed a primary with
// ROLE. The operator pauses and resumes it through its admin port around a
// planned switchover.
func ProxyDeployment(rf *haredisv1.RedisFailover, opts Options) *appsv1.Deployment {
	meta := objectMeta(rf, ProxyName(rf), ComponentProxy)
	podMeta := objectMeta(rf, "", ComponentProxy)
	podMeta.OwnerReferences, podMeta.Name, podMeta.Namespace = nil, "", ""
	args := []string{BinaryPath, "proxy",
		"--listen=:" + strconv.Itoa(RedisPort),
		"--admin-listen=:" + strconv.Itoa(ProxyAdminPort),
		"--sentinels=" + strings.Join(proxySentinels(rf), ","),
		"--master-name=" + rf.SentinelMasterName(),
	}
	// The admin token, never the application's password, guards the
	// admin endpoint's /pause and /resume.
	args = append(args, "--admin-token-file="+AuthDir+"/"+proxyapi.TokenKey)
	items := []corev1.KeyToPath{{Key: proxyapi.TokenKey, Path: proxyapi.TokenKey}}
	if rf.AuthEnabled() {
		args = append(args, "--password-file="+AuthDir+"/"+PasswordKey)
		items = append(items, corev1.KeyToPath{Key: PasswordKey, Path: PasswordKey})
	}
	if rf.AuthEnabled() && rf.ACLUsersEnabled() {
		// During a rotation of the password, the one it replaces.
		args = append(args, "--previous-password-file="+AuthDir+"/"+PreviousPasswordKey)
		items = append(items, corev1.KeyToPath{Key: PreviousPasswordKey, Path: PreviousPasswordKey})
	}
	mounts := []corev1.VolumeMount{{Name: "auth", MountPath: AuthDir, ReadOnly: true}}
	volumes := []corev1.Volume{{Name: "auth", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
		SecretName:  InternalSecretName(rf),
		Items:       items,
		DefaultMode: ptr.To[int32](0o400),
	}}}}
	if rf.TLSEnabled() {
		// TLS on both sides: to clients and to the instances and sentinels.
		args = append(args, "--tls-dir="+certs.MountDir)
		if src := rf.LiveImportSource(); src != "" {
			// A live import's source speaks no TLS; REDIS_URL reaches it
			// until the cutover.
			args = append(args, "--plain-upstream="+src)
		}
		mounts = append(mounts, tlsMount())
		volumes = append(volumes, tlsVolume(rf))
	}
	adminProbe := func(path string, period, failures int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString("admin")}},
			PeriodSeconds:    period,
			FailureThreshold: failures,
		}
	}
	pod := corev1.PodSpec{
		ServiceAccountName:            ServiceAccountName(rf),
		TerminationGracePeriodSeconds: ptr.To[int64](10),
		Containers: []corev1.Container{{
			Name:            "proxy",
			Image:           opts.OperatorImage,
			ImagePullPolicy: corev1.PullPolicy(opts.ImagePullPolicy),
			Command:         args,
			Ports: []corev1.ContainerPort{
				{Name: "redis", ContainerPort: RedisPort, Protocol: corev1.ProtocolTCP},
				{Name: "admin", ContainerPort: ProxyAdminPort, Protocol: corev1.ProtocolTCP},
			},
			ReadinessProbe: adminProbe("/readyz", 2, 1),
			LivenessProbe:  adminProbe("/healthz", 10, 6),
			Resources:      rf.Spec.Proxy.Resources,
			VolumeMounts:   mounts,
		}},
		Volumes: volumes,
	}
	schedule(&pod, rf, haredisv1.Scheduling{}, ComponentProxy)
	harden(&pod)
	replicas := rf.Spec.Proxy.Replicas
	if replicas < 1 {
		replicas = 2
	}
	return &appsv1.Deployment{
		ObjectMeta: meta,
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: metav1LabelSelector(Selector(rf, ComponentProxy)),
			// A new proxy is ready (has a confirmed primary) before an old
			// one goes: the REDIS_URL always has endpoints.
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{
				MaxUnavailable: ptrIntOrString(intstr.FromInt32(0)),
				MaxSurge:       ptrIntOrString(intstr.FromInt32(1)),
			}},
			Template: corev1.PodTemplateSpec{ObjectMeta: podMeta, Spec: pod},
		},
	}
}

// ProxyPodDisruptionBudget keeps all but one proxy through voluntary
// disruptions.
func ProxyPodDisruptionBudget(rf *haredisv1.RedisFailover) *policyv1.PodDisruptionBudget {
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: objectMeta(rf, ProxyName(rf), ComponentProxy),
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable: ptrIntOrString(intstr.FromInt32(1)),
			Selector:       metav1LabelSelector(Selector(rf, ComponentProxy)),
		},
	}
}

// proxySentinels are the sentinels the proxy follows: the dedicated ones
// by stable name, or a SentinelPool's Service (the proxy confirms every
// primary a sentinel names with ROLE, so any of the pool's sentinels
// will do).
func proxySentinels(rf *haredisv1.RedisFailover) []string {
	if ns, name, ok := strings.Cut(rf.Status.SentinelPool, "/"); ok {
		return []string{PoolEndpoint(ns, name)}
	}
	return SentinelAddrs(rf)
}
