package specs

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"github.com/haredis/haredis/internal/acl"
	"github.com/haredis/haredis/internal/certs"

	"github.com/haredis/haredis/internal/quorum"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	haredisv1 "github.com/haredis/haredis/api/v1"
)

// TerminationGracePeriodSeconds leaves the instance manager its 30 s stop
// timeout plus a margin to flush and hand over.
const TerminationGracePeriodSeconds = 40

// InstancePod builds the Pod of instance name (NAME-N). role is the label
// the pod starts with; the operator moves it when it observes a failover.
// The annotation haredis.dev/revision identifies the template it was built
// from (InstanceRevision).
func InstancePod(rf *haredisv1.RedisFailover, name string, role haredisv1.Role, opts Options) *corev1.Pod {
	pod := instancePod(rf, name, role, opts)
	pod.Annotations = map[string]string{haredisv1.AnnotationRevision: InstanceRevision(rf, opts)}
	return pod
}

// InstanceRevision identifies what the instance pods of rf run: their
// template (every instance's pod differs from it only by its name) and the
// settings the instance manager reads only when it starts. A pod of another
// revision must be restarted to run the current spec.
func InstanceRevision(rf *haredisv1.RedisFailover, opts Options) string {
	return revision(instancePod(rf, rf.Name+"-0", haredisv1.RoleReplica, opts).Spec, rf.Spec.Redis.Persistence)
}

// SentinelRevision is InstanceRevision for the sentinel pods.
func SentinelRevision(rf *haredisv1.RedisFailover, opts Options) string {
	return revision(sentinelPod(rf, rf.SentinelName(0), opts).Spec)
}

func instancePod(rf *haredisv1.RedisFailover, name string, role haredisv1.Role, opts Options) *corev1.Pod {
	meta := objectMeta(rf, name, ComponentRedis)
	meta.Labels[haredisv1.LabelRedisInstance] = name
	meta.Labels[haredisv1.LabelRole] = string(role)
	spec := rf.Spec.Redis
	pod := &corev1.Pod{
		ObjectMeta: meta,
		Spec: corev1.PodSpec{
			Hostname:                      name,
			Subdomain:                     rf.HeadlessServiceName(),
			ServiceAccountName:            ServiceAccountName(rf),
			TerminationGracePeriodSeconds: ptr.To[int64](TerminationGracePeriodSeconds),
			InitContainers:                []corev1.Container{copyBinaryContainer(opts)},
			Containers: []corev1.Container{{
				Name:            "redis",
				Image:           spec.Image,
				ImagePullPolicy: spec.ImagePullPolicy,
				Command:         []string{InstanceBinary, "instance", "run"},
				Env:             podEnv(),
				Ports: []corev1.ContainerPort{
					{Name: "redis", ContainerPort: RedisPort, Protocol: corev1.ProtocolTCP},
					{Name: "http", ContainerPort: StatusPort, Protocol: corev1.ProtocolTCP},
					{Name: "metrics", ContainerPort: InstanceMetricsPort, Protocol: corev1.ProtocolTCP},
				},
				LivenessProbe:  httpProbe("/healthz", 10, 6),
				ReadinessProbe: httpProbe("/readyz", 2, 1),
				Resources:      spec.Resources,
				VolumeMounts: append(commonMounts(rf, true),
					corev1.VolumeMount{Name: "data", MountPath: DataDir},
					corev1.VolumeMount{Name: "podinfo", MountPath: PodInfoDir, ReadOnly: true}),
			}},
			Volumes: append(commonVolumes(rf, true), corev1.Volume{
				Name: "data",
				VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{
					ClaimName: name,
				}},
			}, corev1.Volume{
				Name: "podinfo",
				VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{
					Items: []corev1.DownwardAPIVolumeFile{{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}}},
				}},
			}),
		},
	}
	schedule(&pod.Spec, rf, spec.Scheduling, ComponentRedis)
	harden(&pod.Spec)
	return pod
}

// SentinelPod builds dedicated sentinel name (NAME-sentinel-N). It renders
// sentinel.conf at every start (`haredis sentinel run`), so a restarted
// sentinel asks its peers for the current primary instead of trusting a
// stale file.
func SentinelPod(rf *haredisv1.RedisFailover, name string, opts Options) *corev1.Pod {
	pod := sentinelPod(rf, name, opts)
	pod.Annotations = map[string]string{haredisv1.AnnotationRevision: SentinelRevision(rf, opts)}
	return pod
}

func sentinelPod(rf *haredisv1.RedisFailover, name string, opts Options) *corev1.Pod {
	meta := objectMeta(rf, name, ComponentSentinel)
	image := rf.Spec.Sentinel.Image
	if image == "" {
		image = rf.Spec.Redis.Image
	}
	s := rf.Spec.Sentinel
	args := []string{InstanceBinary, "sentinel", "run",
		"--announce-hostname=" + SentinelHost(rf, name),
	}
	if s.DownAfter != nil {
		args = append(args, "--down-after="+s.DownAfter.Duration.String())
	}
	if s.FailoverTimeout != nil {
		args = append(args, "--failover-timeout="+s.FailoverTimeout.Duration.String())
	}
	pod := &corev1.Pod{
		ObjectMeta: meta,
		Spec: corev1.PodSpec{
			Hostname:                      name,
			Subdomain:                     SentinelHeadlessServiceName(rf),
			ServiceAccountName:            ServiceAccountName(rf),
			TerminationGracePeriodSeconds: ptr.To[int64](10),
			InitContainers:                []corev1.Container{copyBinaryContainer(opts)},
			Containers: []corev1.Container{{
				Name:            "sentinel",
				Image:           image,
				ImagePullPolicy: rf.Spec.Redis.ImagePullPolicy,
				Command:         args,
				Env:             podEnv(),
				Ports: []corev1.ContainerPort{
					{Name: "sentinel", ContainerPort: SentinelPort, Protocol: corev1.ProtocolTCP},
				},
				ReadinessProbe: &corev1.Probe{
					ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("sentinel")}},
					PeriodSeconds: 5,
				},
				LivenessProbe: &corev1.Probe{
					ProbeHandler:     corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("sentinel")}},
					PeriodSeconds:    10,
					FailureThreshold: 6,
				},
				Resources:    s.Resources,
				VolumeMounts: commonMounts(rf, false),
			}},
			Volumes: commonVolumes(rf, false),
		},
	}
	schedule(&pod.Spec, rf, s.Scheduling, ComponentSentinel)
	harden(&pod.Spec)
	return pod
}

// SentinelQuorum is a majority of the dedicated sentinels. It is not part
// of the sentinel pods (a sentinel starts with a majority of the sentinels
// listed in instance.json), so that a new count changes it live with
// SENTINEL SET rather than by restarting every sentinel.
func SentinelQuorum(rf *haredisv1.RedisFailover) int32 {
	return int32(quorum.Majority(int(rf.Spec.Sentinel.Replicas)))
}

func copyBinaryContainer(opts Options) corev1.Container {
	return corev1.Container{
		Name:            "haredis-bin",
		Image:           opts.OperatorImage,
		ImagePullPolicy: corev1.PullPolicy(opts.ImagePullPolicy),
		Command:         []string{BinaryPath, "instance", "copy-binary", InstanceBinary},
		VolumeMounts:    []corev1.VolumeMount{{Name: "haredis-bin", MountPath: BinDir}},
	}
}

func podEnv() []corev1.EnvVar {
	field := func(name, path string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}}
	}
	return []corev1.EnvVar{
		field("POD_NAME", "metadata.name"),
		field("POD_NAMESPACE", "metadata.namespace"),
		field("POD_IP", "status.podIP"),
		{Name: "HAREDIS_CONFIG", Value: ConfigPath},
	}
}

func httpProbe(path string, period, failures int32) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString("http")}},
		PeriodSeconds:    period,
		FailureThreshold: failures,
	}
}

// commonMounts are the mounts of Redis pods (manager true: they also get
// the manager token) and sentinel pods.
func commonMounts(rf *haredisv1.RedisFailover, manager bool) []corev1.VolumeMount {
	m := []corev1.VolumeMount{
		{Name: "haredis-bin", MountPath: BinDir},
		{Name: "config", MountPath: ConfigDir, ReadOnly: true},
		{Name: "run", MountPath: RunDir},
	}
	if rf.AuthEnabled() || manager {
		m = append(m, corev1.VolumeMount{Name: "auth", MountPath: AuthDir, ReadOnly: true})
	}
	if rf.TLSEnabled() {
		m = append(m, tlsMount())
	}
	return m
}

// tlsMount and tlsVolume mount the certificate Secret (spec.tls) where
// every pod of the RedisFailover reads it; the kubelet writes a renewed
// certificate into the same files.
func tlsMount() corev1.VolumeMount {
	return corev1.VolumeMount{Name: "tls", MountPath: certs.MountDir, ReadOnly: true}
}

func tlsVolume(rf *haredisv1.RedisFailover) corev1.Volume {
	return corev1.Volume{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
		SecretName: rf.TLSSecretName(),
		Items: []corev1.KeyToPath{
			{Key: certs.CertKey, Path: certs.CertKey}, {Key: certs.KeyKey, Path: certs.KeyKey}, {Key: certs.CAKey, Path: certs.CAKey},
		},
		DefaultMode: ptr.To[int32](0o400),
	}}}
}

func commonVolumes(rf *haredisv1.RedisFailover, manager bool) []corev1.Volume {
	v := []corev1.Volume{
		{Name: "haredis-bin", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: InstanceConfigMapName(rf)},
		}}},
		// In memory: redis.conf and sentinel.conf hold the password, and a
		// sentinel fsyncs its file before every vote it casts. It survives a
		// container restart, so a restarted sentinel keeps its epochs.
		{Name: "run", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
			Medium: corev1.StorageMediumMemory, SizeLimit: ptr.To(resource.MustParse("16Mi")),
		}}},
	}
	var items []corev1.KeyToPath
	if rf.AuthEnabled() {
		items = append(items, corev1.KeyToPath{Key: PasswordKey, Path: PasswordKey})
		// A Redis pod sets up every user; a sentinel authenticates to the
		// instances as the sentinel user.
		var keys []string
		switch {
		case !rf.ACLUsersEnabled():
		case manager:
			keys = []string{acl.AdminPasswordKey, acl.ReplicationPasswordKey, acl.SentinelPasswordKey, acl.DeclaredUsersKey, acl.PreviousPasswordHashKey}
		default:
			keys = []string{acl.SentinelPasswordKey, acl.PreviousPasswordHashKey}
		}
		for _, k := range keys {
			items = append(items, corev1.KeyToPath{Key: k, Path: k})
		}
	}
	if manager {
		items = append(items, corev1.KeyToPath{Key: TokenKey, Path: TokenKey})
	}
	if len(items) > 0 {
		v = append(v, corev1.Volume{Name: "auth", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName:  InternalSecretName(rf),
			Items:       items,
			DefaultMode: ptr.To[int32](0o400),
		}}})
	}
	if rf.TLSEnabled() {
		v = append(v, tlsVolume(rf))
	}
	return v
}

// schedule copies the user's scheduling fields and, when the user gave no
// affinity, prefers to spread the component's pods over hosts and zones.
func schedule(ps *corev1.PodSpec, rf *haredisv1.RedisFailover, s haredisv1.Scheduling, component string) {
	ps.NodeSelector = s.NodeSelector
	ps.Tolerations = s.Tolerations
	ps.TopologySpreadConstraints = s.TopologySpreadConstraints
	ps.PriorityClassName = s.PriorityClassName
	if s.Affinity != nil {
		ps.Affinity = s.Affinity
		return
	}
	term := func(weight int32, key string) corev1.WeightedPodAffinityTerm {
		return corev1.WeightedPodAffinityTerm{Weight: weight, PodAffinityTerm: corev1.PodAffinityTerm{
			LabelSelector: metav1LabelSelector(Selector(rf, component)),
			TopologyKey:   key,
		}}
	}
	ps.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
		PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{
			term(100, corev1.LabelHostname),
			term(50, corev1.LabelTopologyZone),
		},
	}}
}

// PodTemplateRevision identifies a pod template haredis built, so that an
// owner (the proxy Deployment) is updated only when it changed.
func PodTemplateRevision(t corev1.PodTemplateSpec) string { return revision(t) }

// revision hashes what a pod runs.
func revision(parts ...any) string {
	h := sha256.New()
	for _, p := range parts {
		b, err := json.Marshal(p)
		if err != nil {
			// Pod specs always encode; a failure would be a programming error.
			panic("cannot encode a pod spec: " + err.Error())
		}
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}
