package specs

// Options are the operator-wide inputs of the builders.
type Options struct {
	// OperatorImage is the image holding the haredis binary at BinaryPath;
	// init containers copy it into the stock Redis image.
	OperatorImage string
	// ImagePullPolicy of the operator image in init containers.
	ImagePullPolicy string
}

// Paths inside the pods (the contract of docs/architecture-instance.md).
const (
	// BinaryPath is where the operator image holds the haredis binary.
	BinaryPath = "/usr/local/bin/haredis"
	// BinDir is the emptyDir the init container copies the binary into.
	BinDir = "/haredis-bin"
	// InstanceBinary is the copied binary.
	InstanceBinary = BinDir + "/haredis"
	// ConfigDir holds instance.json (ConfigMap NAME-instance).
	ConfigDir = "/etc/haredis"
	// AuthDir holds the password file (key password).
	AuthDir = "/etc/haredis/auth"
	// DataDir is the instance's PVC.
	DataDir = "/data"
	// RunDir is an emptyDir for rendered configuration.
	RunDir = "/run/haredis"
	// InstanceConfigKey is the key of instance.json in ConfigMap NAME-instance.
	InstanceConfigKey = "instance.json"
	// PasswordKey is the key of the password in Secret NAME-auth.
	PasswordKey = "password"
)

// Annotations.
const (
	// AnnotationLastSerial on the RedisFailover records the highest instance
	// serial ever used, so a number is never reused even after status is lost.
	AnnotationLastSerial = "haredis.dev/last-serial"
	// AnnotationConfigGeneration on a pod is the generation of the parameter
	// group last applied to it with PUT /config.
	AnnotationConfigGeneration = "haredis.dev/config-generation"
	// AnnotationRevision on a pod identifies the template it was built from
	// (InstanceRevision, SentinelRevision).
	AnnotationRevision = "haredis.dev/revision"
	// LabelDetached on a PVC marks the volume of an instance removed by a
	// scale down and kept by the storage policy: it is no longer part of
	// the RedisFailover and never reused.
	LabelDetached = "haredis.dev/detached"
)

// Finalizer of a RedisFailover: deletes PVCs per the storage policy.
const Finalizer = "haredis.dev/volumes"
