package instanceapi

import (
	"time"

	"github.com/haredis/haredis/internal/bootrole"
)

// Port is where the instance manager serves its API in a pod.
const Port = 8080

// Phases of the instance manager (Status.Phase).
const (
	PhaseDeciding = "deciding"
	PhaseWaiting  = "waiting"
	PhaseStarting = "starting"
	PhaseRunning  = "running"
	PhaseBackoff  = "backoff"
	PhaseStopping = "stopping"
	// PhaseRefused: the server in the image is not supported, or cannot
	// read the data on the volume; it is not started (Status.Refused says
	// why).
	PhaseRefused = "refused"
)

// Roles (Status.Role).
const (
	RolePrimary = "primary"
	RoleReplica = "replica"
	RoleUnknown = "unknown"
)

// Status is the body of GET /status.
type Status struct {
	Name  string `json:"name"`
	PodIP string `json:"podIP,omitempty"`
	// MasterName is the Sentinel master name of the RedisFailover this
	// instance serves.
	MasterName string `json:"masterName,omitempty"`
	// Phase of the manager: deciding, waiting, starting, running, backoff,
	// stopping.
	Phase string `json:"phase"`
	// Role is primary, replica, or unknown when redis-server does not answer.
	Role       string `json:"role"`
	RedisUp    bool   `json:"redisUp"`
	RedisError string `json:"redisError,omitempty"`
	// ACLError is why the Redis users (the application user's rules, an
	// internal user) could not be set up; empty when they are in force.
	ACLError          string `json:"aclError,omitempty"`
	ReplicationOffset int64  `json:"replicationOffset"`
	ReplID            string `json:"replID,omitempty"`
	MasterHost        string `json:"masterHost,omitempty"`
	MasterPort        int    `json:"masterPort,omitempty"`
	MasterLinkUp      bool   `json:"masterLinkUp"`
	SyncInProgress    bool   `json:"syncInProgress,omitempty"`
	LagBytes          int64  `json:"lagBytes"`
	ConnectedReplicas int    `json:"connectedReplicas"`
	Keys              int64  `json:"keys"`
	Loading           bool   `json:"loading,omitempty"`
	RunID             string `json:"runID,omitempty"`
	RedisPID          int    `json:"redisPID,omitempty"`
	Restarts          int    `json:"restarts"`
	// HasData: the data set (in the running server, else on the volume) is
	// not empty.
	HasData bool `json:"hasData"`
	// DataPosition is how far this instance's data set has come in the
	// replication history, also while redis-server is stopped.
	DataPosition bootrole.Position `json:"dataPosition"`
	// History holds the links between replication histories this instance
	// knows, so that peers can order positions of different histories.
	History map[string]bootrole.Link `json:"history,omitempty"`
	// Synced: this replica completed a synchronisation with its primary
	// since its redis-server started.
	Synced bool `json:"synced,omitempty"`
	// Promotable: Sentinel may promote this replica (replica-priority is not
	// 0); PromotableReason says why or why not.
	Promotable       bool   `json:"promotable,omitempty"`
	PromotableReason string `json:"promotableReason,omitempty"`
	// Forced is the instance a human chose as primary, while that choice
	// holds.
	Forced string `json:"forced,omitempty"`
	// DataError is Redis's own message when it could not load the data on
	// the volume (a corrupt RDB or AOF); Quarantined the directory the
	// unreadable files were moved to, when they were.
	DataError   string `json:"dataError,omitempty"`
	Quarantined string `json:"quarantined,omitempty"`
	// Engine and EngineVersion are the server's (redis or valkey), from
	// its own --version before it starts and from INFO server once it runs.
	Engine        string `json:"engine,omitempty"`
	EngineVersion string `json:"engineVersion,omitempty"`
	// Refused says why the server in the image is not started: a version
	// haredis does not support, or data on the volume it cannot read.
	Refused string `json:"refused,omitempty"`
	// Bootstrap is how the seeding of a new RedisFailover went on this
	// instance, when instance.json asks it to load a file.
	Bootstrap *BootstrapStatus `json:"bootstrap,omitempty"`
	// Volume is how much of the data volume is used (nil when it cannot
	// be read).
	Volume *Volume `json:"volume,omitempty"`
	// LabelRole is the pod's haredis.dev/role label as the pod sees it.
	LabelRole    string          `json:"labelRole,omitempty"`
	LastDecision *DecisionRecord `json:"lastDecision,omitempty"`
	Config       ConfigStatus    `json:"config"`
	// Durability is what the manager applies; DurabilityLive what the
	// running redis-server has (nil when none runs or it cannot be read).
	Durability     Durability  `json:"durability"`
	DurabilityLive *Durability `json:"durabilityLive,omitempty"`
	Ready          bool        `json:"ready"`
	ReadyReason    string      `json:"readyReason"`
}

// Volume is Status.Volume: the files under the data directory, and the
// filesystem that holds them.
type Volume struct {
	// DataBytes is the size of the files under the data directory (data
	// set, append-only files, quarantined files, haredis's own state).
	DataBytes int64 `json:"dataBytes"`
	// FilesystemBytes and FilesystemFreeBytes are the size of the
	// filesystem the data directory is on and what is free on it for
	// redis-server (statfs).
	FilesystemBytes     int64 `json:"filesystemBytes"`
	FilesystemFreeBytes int64 `json:"filesystemFreeBytes"`
}

// Phases of a bootstrap (BootstrapStatus.Phase).
const (
	// BootstrapLoading: the file is being downloaded and checked.
	BootstrapLoading = "loading"
	// BootstrapLoaded: the file is on the volume; redis-server loads it.
	BootstrapLoaded = "loaded"
	// BootstrapSkipped: the volume, or a peer's, already holds data; the
	// file is not loaded, so nothing newer is replaced by it.
	BootstrapSkipped = "skipped"
	// BootstrapFailed: the file could not be loaded (Error says why);
	// redis-server stays stopped and nothing is served empty.
	BootstrapFailed = "failed"
	// BootstrapImporting: a live import runs: the server replicates from
	// the source Redis (Import says how far it is).
	BootstrapImporting = "importing"
	// BootstrapImported: the cutover happened; the server is a primary.
	BootstrapImported = "imported"
)

// BootstrapStatus is Status.Bootstrap.
type BootstrapStatus struct {
	Phase  string `json:"phase"`
	Source string `json:"source"`
	// Bytes downloaded so far; SHA256 of the file once loaded.
	Bytes  int64  `json:"bytes,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	// RDBVersion of the file once checked.
	RDBVersion int `json:"rdbVersion,omitempty"`
	// WaitingForURL: the manager waits for the operator to hand over the
	// file's URL (PUT /seed).
	WaitingForURL bool `json:"waitingForURL,omitempty"`
	// Import is where a live import stands.
	Import *ImportStatus `json:"import,omitempty"`
	Error  string        `json:"error,omitempty"`
	At     time.Time     `json:"at"`
}

// SeedRequest is the body of PUT /seed: the URL of the RDB file the
// instance named by instance.json's bootstrap loads. A signed URL of an
// object store is a credential: it is handed over through the
// authenticated API, never written to a ConfigMap or a pod's spec.
type SeedRequest struct {
	URL string `json:"url"`
}

// ImportStatus is BootstrapStatus.Import: a live import as the importing
// instance sees it.
type ImportStatus struct {
	// Source is host:port of the source Redis.
	Source string `json:"source"`
	// LinkUp: the server is connected to the source and finished its first
	// synchronisation (master_link_status:up).
	LinkUp bool `json:"linkUp"`
	// Offset is the server's replication offset; SourceOffset the source's
	// (0 when the source cannot be asked); LagBytes their difference, -1
	// while either is unknown.
	Offset       int64 `json:"offset"`
	SourceOffset int64 `json:"sourceOffset"`
	LagBytes     int64 `json:"lagBytes"`
	// Problem says why the import does not progress (the source's error,
	// a synchronisation that failed).
	Problem string `json:"problem,omitempty"`
	// CutoverAt is when the server became a primary.
	CutoverAt time.Time `json:"cutoverAt,omitzero"`
}

// CutoverResult is the answer to POST /cutover: the source's writes are
// held, the server caught up with them and became a primary.
type CutoverResult struct {
	// Offset the server had reached, equal to the source's when its writes
	// were held.
	Offset int64 `json:"offset"`
	// WritesHeldMilliseconds is how long the source's writes had been held
	// when the server became a primary (they stay held until released).
	WritesHeldMilliseconds int64 `json:"writesHeldMilliseconds,omitempty"`
}

// ConfigStatus is the parameter group part of Status.
type ConfigStatus struct {
	Generation      int64             `json:"generation"`
	Hash            string            `json:"hash"`
	InForce         map[string]string `json:"inForce"`
	Desired         map[string]string `json:"desired"`
	DesiredHash     string            `json:"desiredHash"`
	RestartRequired []string          `json:"restartRequired,omitempty"`
	LastError       string            `json:"lastError,omitempty"`
	LastErrorAt     time.Time         `json:"lastErrorAt,omitzero"`
	// Restores counts the times parameters of the group were found changed
	// on the running server (CONFIG SET behind the operator's back) and put
	// back; LastRestore says which, and when.
	Restores      int       `json:"restores,omitempty"`
	LastRestore   string    `json:"lastRestore,omitempty"`
	LastRestoreAt time.Time `json:"lastRestoreAt,omitzero"`
}

// DecisionRecord is the last boot decision with the facts it was made on.
type DecisionRecord struct {
	bootrole.Decision
	Facts bootrole.Facts `json:"facts"`
	At    time.Time      `json:"at"`
	// Since is when the manager began deciding (the wait's start).
	Since time.Time `json:"since,omitzero"`
}

// Durability is min-replicas-to-write and min-replicas-max-lag.
type Durability struct {
	MinReplicasToWrite int `json:"minReplicasToWrite"`
	MaxLagSeconds      int `json:"maxLagSeconds"`
}

// MaxMinReplicasToWrite bounds Durability.MinReplicasToWrite: a
// RedisFailover has at most 32 instances.
const MaxMinReplicasToWrite = 31

// FenceMinReplicasToWrite is the min-replicas-to-write of a fenced
// RedisFailover (spec.fenced): more replicas than a RedisFailover can
// have, so every write is refused (NOREPLICAS) while reads, replication and
// Sentinel go on. An instance whose durability asks for it is fenced on
// purpose: its readiness does not depend on its replicas.
const FenceMinReplicasToWrite = MaxMinReplicasToWrite + 1

// Fenced tells whether d fences writes on purpose.
func (d Durability) Fenced() bool { return d.MinReplicasToWrite >= FenceMinReplicasToWrite }

// GroupState is the parameter group (GET /config): what the operator asked
// for, what the next start of redis-server renders, and what the running one
// has.
type GroupState struct {
	Generation int64             `json:"generation"`
	Desired    map[string]string `json:"desired"`
	// Boot is rendered at the next start of redis-server: Desired when
	// Redis accepts it, else the last group that worked, else none.
	Boot map[string]string `json:"boot"`
	// InForce is what the running redis-server has (nil when none runs).
	InForce map[string]string `json:"inForce"`
	// RestartRequired lists parameters of Desired that differ from InForce
	// and that Redis cannot change at run time.
	RestartRequired []string  `json:"restartRequired,omitempty"`
	LastError       string    `json:"lastError,omitempty"`
	LastErrorAt     time.Time `json:"lastErrorAt,omitzero"`
}

// PutConfigRequest is the body of PUT /config.
type PutConfigRequest struct {
	// Generation orders groups; 0 means unordered (always accepted).
	Generation int64             `json:"generation"`
	Config     map[string]string `json:"config"`
	// Durability, when set, changes min-replicas-to-write and
	// min-replicas-max-lag at once (they are not part of the group: the
	// operator derives them from spec.durability and the instance count).
	Durability *Durability `json:"durability,omitempty"`
}

// ApplyResult reports a PUT /config.
type ApplyResult struct {
	Generation int64 `json:"generation"`
	// Applied are the parameters changed on the running redis-server with
	// one CONFIG SET; "" for a parameter reset to its default.
	Applied map[string]string `json:"applied"`
	// RestartRequired are parameters Redis cannot change at run time; they
	// take effect at the next start of redis-server.
	RestartRequired []string `json:"restartRequired"`
	// Running is false when no redis-server runs: everything applies at the
	// next start.
	Running bool   `json:"running"`
	Hash    string `json:"hash"`
}

// ForceRequest is the body of PUT /force: a human's choice of primary,
// delivered by the operator to every instance. The choice lapses after
// ForceTTL unless it is delivered again.
type ForceRequest struct {
	Primary string `json:"primary"`
}

// ForceTTL is how long a delivered choice holds.
const ForceTTL = 2 * time.Minute

// ErrorBody is the body of every error answer.
type ErrorBody struct {
	Error string `json:"error"`
	// RedisError is Redis's own message when Redis refused.
	RedisError string `json:"redisError,omitempty"`
	Directive  string `json:"directive,omitempty"`
}
