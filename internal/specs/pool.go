package specs

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/quorum"
)

// ComponentPoolSentinel is the component label of a SentinelPool's pods.
const ComponentPoolSentinel = "pool-sentinel"

// PoolPasswordKey is the key of the pool's admin password in its Secret.
const PoolPasswordKey = "password"

// PoolLabels are the labels of every object a SentinelPool owns.
func PoolLabels(sp *haredisv1.SentinelPool) map[string]string {
	return map[string]string{
		LabelName:                   "haredis",
		LabelInstance:               sp.Name,
		LabelComponent:              ComponentPoolSentinel,
		LabelManagedBy:              ManagedBy,
		haredisv1.LabelSentinelPool: sp.Name,
	}
}

// PoolSelector selects the sentinel pods of a SentinelPool.
func PoolSelector(sp *haredisv1.SentinelPool) map[string]string {
	return map[string]string{haredisv1.LabelSentinelPool: sp.Name, LabelComponent: ComponentPoolSentinel}
}

func poolMeta(sp *haredisv1.SentinelPool, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:      name,
		Namespace: sp.Namespace,
		Labels:    PoolLabels(sp),
		OwnerReferences: []metav1.OwnerReference{{
			APIVersion: haredisv1.GroupVersion.String(), Kind: "SentinelPool", Name: sp.Name, UID: sp.UID,
			Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
		}},
	}
}

// PoolQuorum is the quorum of every master a pool watches: a majority of
// its sentinels.
func PoolQuorum(sp *haredisv1.SentinelPool) int {
	return quorum.Majority(int(sp.Spec.Replicas))
}

// PoolSentinelHost is the stable DNS name of pool sentinel name.
func PoolSentinelHost(sp *haredisv1.SentinelPool, name string) string {
	return fmt.Sprintf("%s.%s.%s.svc.cluster.local", name, sp.HeadlessServiceName(), sp.Namespace)
}

// PoolEndpoint is host:port of the pool's sentinel Service.
func PoolEndpoint(namespace, pool string) string {
	return fmt.Sprintf("%s-sentinel.%s.svc.cluster.local:%d", pool, namespace, SentinelPort)
}

// PoolSentinelAddrs are host:port of the pool's sentinels by stable name.
func PoolSentinelAddrs(sp *haredisv1.SentinelPool) []string {
	out := make([]string, 0, sp.Spec.Replicas)
	for i := 1; i <= int(sp.Spec.Replicas); i++ {
		out = append(out, fmt.Sprintf("%s:%d", PoolSentinelHost(sp, sp.SentinelName(i)), SentinelPort))
	}
	return out
}

// PoolServices are the pool's sentinel Service and the headless Service
// that names each sentinel.
func PoolServices(sp *haredisv1.SentinelPool) []*corev1.Service {
	mk := func(name string) *corev1.Service {
		return &corev1.Service{
			ObjectMeta: poolMeta(sp, name),
			Spec: corev1.ServiceSpec{
				Type:     corev1.ServiceTypeClusterIP,
				Selector: PoolSelector(sp),
				Ports:    []corev1.ServicePort{sentinelPort()},
			},
		}
	}
	headless := mk(sp.HeadlessServiceName())
	headless.Spec.ClusterIP = corev1.ClusterIPNone
	headless.Spec.PublishNotReadyAddresses = true
	return []*corev1.Service{mk(sp.ServiceName()), headless}
}

// PoolSecret holds the pool's admin password.
func PoolSecret(sp *haredisv1.SentinelPool, password string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: poolMeta(sp, sp.AuthSecretName()),
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{PoolPasswordKey: []byte(password)},
	}
}

// PoolTaughtSecret holds the masters the pool's sentinels are taught at
// start; the RedisFailover reconciler writes and removes its keys.
func PoolTaughtSecret(sp *haredisv1.SentinelPool) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: poolMeta(sp, sp.TaughtSecretName()), Type: corev1.SecretTypeOpaque}
}

// PoolPDB keeps a majority of the pool's sentinels through voluntary
// disruptions.
func PoolPDB(sp *haredisv1.SentinelPool) *policyv1.PodDisruptionBudget {
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: poolMeta(sp, sp.PDBName()),
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: ptr.To(intstr.FromInt32(int32(PoolQuorum(sp)))),
			Selector:     metav1LabelSelector(PoolSelector(sp)),
		},
	}
}

// PoolSentinelPod builds pool sentinel name (NAME-sentinel-N). It starts
// with no master (or the masters the sentinel's previous start left in its
// run directory): the operator registers every RedisFailover the pool
// serves with SENTINEL MONITOR, and again on a sentinel that lost them.
func PoolSentinelPod(sp *haredisv1.SentinelPool, name string, opts Options) *corev1.Pod {
	pod := poolSentinelPod(sp, name, opts)
	pod.Annotations = map[string]string{haredisv1.AnnotationRevision: PoolSentinelRevision(sp, opts)}
	return pod
}

// PoolSentinelRevision is InstanceRevision for a pool's sentinel pods.
func PoolSentinelRevision(sp *haredisv1.SentinelPool, opts Options) string {
	return revision(poolSentinelPod(sp, sp.SentinelName(0), opts).Spec)
}

func poolSentinelPod(sp *haredisv1.SentinelPool, name string, opts Options) *corev1.Pod {
	meta := poolMeta(sp, name)
	probe := func(period, failures int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:     corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("sentinel")}},
			PeriodSeconds:    period,
			FailureThreshold: failures,
		}
	}
	pod := &corev1.Pod{
		ObjectMeta: meta,
		Spec: corev1.PodSpec{
			Hostname:                      name,
			Subdomain:                     sp.HeadlessServiceName(),
			TerminationGracePeriodSeconds: ptr.To[int64](10),
			InitContainers:                []corev1.Container{copyBinaryContainer(opts)},
			Containers: []corev1.Container{{
				Name:            "sentinel",
				Image:           sp.Spec.Image,
				ImagePullPolicy: sp.Spec.ImagePullPolicy,
				Command: []string{InstanceBinary, "sentinel", "pool",
					"--announce-hostname=" + PoolSentinelHost(sp, name),
					"--password-file=" + AuthDir + "/" + PoolPasswordKey,
					"--run-dir=" + RunDir,
					"--taught-dir=" + TaughtDir,
				},
				Env: []corev1.EnvVar{{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}},
				Ports: []corev1.ContainerPort{
					{Name: "sentinel", ContainerPort: SentinelPort, Protocol: corev1.ProtocolTCP},
				},
				ReadinessProbe: probe(5, 1),
				LivenessProbe:  probe(10, 6),
				Resources:      sp.Spec.Resources,
				VolumeMounts: []corev1.VolumeMount{
					{Name: "haredis-bin", MountPath: BinDir},
					{Name: "run", MountPath: RunDir},
					{Name: "auth", MountPath: AuthDir, ReadOnly: true},
					{Name: "taught", MountPath: TaughtDir, ReadOnly: true},
				},
			}},
			Volumes: []corev1.Volume{
				{Name: "haredis-bin", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				// In memory, as a dedicated sentinel's: sentinel.conf holds
				// every master's credentials; it survives a container restart,
				// so a restarted sentinel keeps its masters and epochs.
				{Name: "run", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
					Medium: corev1.StorageMediumMemory, SizeLimit: ptr.To(resource.MustParse("16Mi")),
				}}},
				{Name: "auth", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
					SecretName:  sp.AuthSecretName(),
					Items:       []corev1.KeyToPath{{Key: PoolPasswordKey, Path: PoolPasswordKey}},
					DefaultMode: ptr.To[int32](0o400),
				}}},
				// Read at start only: a sentinel whose previous file lacks a
				// taught master starts with it (see sentinelrun.Taught).
				{Name: "taught", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
					SecretName:  sp.TaughtSecretName(),
					Optional:    ptr.To(true),
					DefaultMode: ptr.To[int32](0o400),
				}}},
			},
		},
	}
	s := sp.Spec.Scheduling
	pod.Spec.NodeSelector = s.NodeSelector
	pod.Spec.Tolerations = s.Tolerations
	pod.Spec.TopologySpreadConstraints = s.TopologySpreadConstraints
	pod.Spec.PriorityClassName = s.PriorityClassName
	pod.Spec.Affinity = s.Affinity
	if pod.Spec.Affinity == nil {
		term := func(weight int32, key string) corev1.WeightedPodAffinityTerm {
			return corev1.WeightedPodAffinityTerm{Weight: weight, PodAffinityTerm: corev1.PodAffinityTerm{
				LabelSelector: metav1LabelSelector(PoolSelector(sp)), TopologyKey: key,
			}}
		}
		pod.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
			PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{
				term(100, corev1.LabelHostname), term(50, corev1.LabelTopologyZone),
			},
		}}
	}
	harden(&pod.Spec)
	return pod
}
