package specs

import "github.com/haredis/haredis/internal/instanceapi"

// Options are the operator-wide inputs of the builders.
type Options struct {
	// OperatorImage is the image holding the haredis binary at BinaryPath;
	// init containers copy it into the stock Redis image.
	OperatorImage string
	// ImagePullPolicy of the operator image in init containers.
	ImagePullPolicy string
	// OperatorNamespace is where the operator's pods run, for the
	// NetworkPolicies that admit them; empty admits them from any
	// namespace.
	OperatorNamespace string
}

// Paths inside the pods (the contract of docs/architecture-instance.md).
const (
	// BinaryPath is where the operator image holds the haredis binary.
	BinaryPath = "/usr/local/bin/haredis"
	// BinDir is the emptyDir the init container copies the binary into.
	BinDir = "/haredis-bin"
	// InstanceBinary is the copied binary.
	InstanceBinary = BinDir + "/haredis"
	// ConfigDir holds instance.json (ConfigMap NAME-instance). The mounts
	// are side by side, never nested: configMap, secret and downward API
	// volumes are read-only, so no mount point can be made inside one.
	ConfigDir = "/etc/haredis/config"
	// ConfigPath is instance.json (HAREDIS_CONFIG in every pod).
	ConfigPath = ConfigDir + "/" + InstanceConfigKey
	// AuthDir holds the password (key password) and, in Redis pods, the
	// manager token (key manager-token), from Secret NAME-internal.
	AuthDir = "/etc/haredis/auth"
	// TaughtDir holds, in a pool sentinel's pod, the masters it is taught
	// at start (Secret NAME-sentinel-masters).
	TaughtDir = "/etc/haredis/taught"
	// PodInfoDir is the downward API volume of Redis pods: their labels, so
	// that an instance knows whether its pod is labelled primary.
	PodInfoDir = "/etc/haredis/podinfo"
	// DataDir is the instance's PVC.
	DataDir = "/data"
	// RunDir is an emptyDir for rendered configuration.
	RunDir = "/run/haredis"
	// InstanceConfigKey is the key of instance.json in ConfigMap NAME-instance.
	InstanceConfigKey = "instance.json"
	// PasswordKey is the key of the password in Secret NAME-auth and in
	// Secret NAME-internal.
	PasswordKey = "password"
	// TokenKey is the key of the manager token in Secret NAME-internal.
	TokenKey = instanceapi.TokenKey
)
