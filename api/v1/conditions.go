package v1

// Condition types of a RedisFailover (status.conditions[].type). The
// operator writes every one of them on each reconcile; docs/conditions.md
// tells what each reason means and what to do about it.
const (
	// ConditionReady is True while the primary takes writes through
	// NAME-primary, every instance and sentinel answers and, when the proxy
	// is on, REDIS_URL has endpoints.
	ConditionReady = "Ready"
	// ConditionDegraded is True while the RedisFailover serves with less
	// redundancy than its spec asks for, or does not accept writes.
	ConditionDegraded = "Degraded"
	// ConditionFailingOver is True while the sentinels elect or promote a
	// new primary.
	ConditionFailingOver = "FailingOver"
	// ConditionConfigInvalid is True while Redis refuses the parameter group.
	ConditionConfigInvalid = "ConfigInvalid"
	// ConditionAuthDisabled is True when spec.auth.enabled is false.
	ConditionAuthDisabled = "AuthDisabled"
	// ConditionProgressing is True while a planned operation (rolling
	// update, switchover, scale down) is under way.
	ConditionProgressing = "Progressing"
	// ConditionConfigApplied is True when every instance runs the parameter
	// group of the current generation, nothing waiting for a restart.
	ConditionConfigApplied = "ConfigApplied"
	// ConditionStorageResized is True when every volume has the size of
	// spec.redis.storage.size.
	ConditionStorageResized = "StorageResized"
	// ConditionDataCorrupt is True while an instance cannot load the data
	// files on its volume.
	ConditionDataCorrupt = "DataCorrupt"
	// ConditionPasswordSecretInSync is False while the Secret the password
	// comes from is missing or differs from the password in force.
	ConditionPasswordSecretInSync = "PasswordSecretInSync"
	// ConditionImageAccepted is False while spec.redis.image names a server
	// haredis does not run, a move the data would not survive (a downgrade,
	// an RDB format the new server cannot read), or an instance refuses
	// to start its image's server on its volume.
	ConditionImageAccepted = "ImageAccepted"
	// ConditionBootstrapped is set when spec.bootstrap is: False while the
	// source of the seed is resolved or loaded, True once the initial
	// primary loaded it.
	ConditionBootstrapped = "Bootstrapped"
	// ConditionBackupsCurrent is set when spec.backup.schedule is: False
	// when the last scheduled backup failed, or the newest completed one
	// is older than twice the schedule's interval.
	ConditionBackupsCurrent = "BackupsCurrent"
	// ConditionCertificateReady is set when spec.tls is on: False while
	// the certificate Secret is missing, invalid, close to its end, or
	// does not name every Service.
	ConditionCertificateReady = "CertificateReady"
)

// Condition types and reasons of a SentinelPool.
const (
	// ConditionPoolReady (type Ready) is True while every sentinel of the
	// pool answers and every master it serves has its quorum
	// (SENTINEL CKQUORUM).
	ConditionPoolReady = "Ready"
	// ReasonPoolReady: every sentinel answers, every master is healthy.
	ReasonPoolReady = "PoolReady"
	// ReasonPoolSentinelsNotReady: some sentinel pods are missing or not
	// ready.
	ReasonPoolSentinelsNotReady = "SentinelsNotReady"
	// ReasonPoolMasterUnhealthy: some served master lacks its quorum or a
	// sentinel that monitors it.
	ReasonPoolMasterUnhealthy = "MasterUnhealthy"
	// ReasonPoolInUse: the pool is being deleted while RedisFailovers still
	// use it; the finalizer holds it until they leave.
	ReasonPoolInUse = "InUse"
)

// Reasons of the CertificateReady condition.
const (
	// ReasonCertificateIssued: haredis issued NAME-tls from its CA.
	ReasonCertificateIssued = "Issued"
	// ReasonCertificateProvided: the user's Secret (spec.tls.secretName)
	// holds a valid certificate.
	ReasonCertificateProvided = "Provided"
	// ReasonTLSSecretMissing: the Secret spec.tls.secretName names does
	// not exist.
	ReasonTLSSecretMissing = "SecretMissing"
	// ReasonTLSSecretInvalid: the Secret lacks a key, its key does not
	// match its certificate, or ca.crt does not sign it.
	ReasonTLSSecretInvalid = "SecretInvalid"
	// ReasonCertificateExpiring: the user's certificate ends within
	// CertificateExpiryWarning.
	ReasonCertificateExpiring = "Expiring"
	// ReasonCertificateNamesMissing: the user's certificate does not name
	// every Service, so clients that verify host names refuse it.
	ReasonCertificateNamesMissing = "NamesMissing"
)

// Reasons of the BackupsCurrent condition.
const (
	ReasonBackupsCurrent      = "Current"
	ReasonBackupsFirstPending = "FirstPending"
	ReasonBackupsLastFailed   = "LastFailed"
	ReasonBackupsTooOld       = "TooOld"
	ReasonBackupsBadSchedule  = "BadSchedule"
)

// Reasons of the Bootstrapped condition.
const (
	// ReasonBootstrapSourceMissing: the RedisBackup, the credentials
	// Secret or the object named by spec.bootstrap does not exist.
	ReasonBootstrapSourceMissing = "SourceMissing"
	// ReasonBootstrapSourceNotReady: the RedisBackup has not completed.
	ReasonBootstrapSourceNotReady = "SourceNotReady"
	// ReasonBootstrapStoreRefused: the store refused the credentials or
	// does not answer.
	ReasonBootstrapStoreRefused = "StoreRefused"
	// ReasonBootstrapLoading: the initial primary downloads and checks the
	// file.
	ReasonBootstrapLoading = "Loading"
	// ReasonBootstrapLoaded: the initial primary loaded the file.
	ReasonBootstrapLoaded = "Loaded"
	// ReasonBootstrapSkipped: the volumes already held data; the file was
	// not loaded over it.
	ReasonBootstrapSkipped = "Skipped"
	// ReasonBootstrapFailed: the file cannot be loaded (checksum, format,
	// download); the instance stays stopped.
	ReasonBootstrapFailed = "Failed"
	// ReasonBootstrapImporting: the initial primary replicates from the
	// source of spec.bootstrap.fromRedis; a cutover ends it.
	ReasonBootstrapImporting = "Importing"
	// ReasonBootstrapImported: the cutover made haredis's primary the
	// writer.
	ReasonBootstrapImported = "Imported"
)

// Reasons of the Ready condition.
const (
	ReasonReady             = "Ready"
	ReasonProxyNotReady     = "ProxyNotReady"
	ReasonInstancesNotReady = "InstancesNotReady"
	ReasonSentinelsNotReady = "SentinelsNotReady"
	// ReasonPrimaryWaiting: the recorded primary keeps redis-server stopped
	// while its boot decision waits (the message says for whom).
	ReasonPrimaryWaiting = "PrimaryWaiting"
	// ReasonPrimaryUnavailable: the recorded primary does not answer.
	ReasonPrimaryUnavailable = "PrimaryUnavailable"
	// ReasonPrimaryNotReady: the recorded primary answers but does not take
	// writes, or its pod is not ready.
	ReasonPrimaryNotReady = "PrimaryNotReady"
	// ReasonBootstrapPending: spec.bootstrap names a source haredis cannot
	// load yet; no pod is created until it can (the Bootstrapped condition
	// says why).
	ReasonBootstrapPending = "BootstrapPending"
	// ReasonImporting: a live import runs; REDIS_URL reaches the source
	// through the proxy until the cutover.
	ReasonImporting = "Importing"
	// ReasonPrimaryRestarting: a planned operation restarts the only
	// instance.
	ReasonPrimaryRestarting = "PrimaryRestarting"
	// ReasonPasswordSecretMissing: spec.auth.passwordSecret names a Secret
	// or key that does not exist (also a reason of PasswordSecretInSync).
	ReasonPasswordSecretMissing = "PasswordSecretMissing"
	// ReasonPasswordLost: the Secrets holding the password in force are gone
	// while pods run with it.
	ReasonPasswordLost = "PasswordLost"
	// ReasonHibernating: spec.hibernate is true and pods are stopping;
	// ReasonHibernated: none runs, the volumes are kept.
	ReasonHibernating = "Hibernating"
	ReasonHibernated  = "Hibernated"
	// ReasonWaking: spec.hibernate went back to false; the pods are
	// created again.
	ReasonWaking = "Waking"
	// ReasonFenced: spec.fenced is true: every write is refused on
	// purpose, reads are served. ReasonFencing: spec.fenced is true and
	// the primary does not run with the fence yet (writes may pass);
	// ReasonUnfencing: spec.fenced is false and the primary still runs
	// with it (writes are refused).
	ReasonFenced    = "Fenced"
	ReasonFencing   = "Fencing"
	ReasonUnfencing = "Unfencing"
	// ReasonSentinelPoolMissing: spec.sentinel.poolRef names no
	// SentinelPool; ReasonSentinelPoolNotAdmitted: the pool's
	// namespaceSelector does not admit the RedisFailover's namespace;
	// ReasonSentinelPoolNeedsUsers: the RedisFailover runs without Redis
	// users (created by an earlier haredis), and a pool monitors each
	// master as its sentinel user. A new RedisFailover waits for them to
	// be resolved; a running one keeps the sentinels it has.
	ReasonSentinelPoolMissing     = "SentinelPoolMissing"
	ReasonSentinelPoolNotAdmitted = "SentinelPoolNotAdmitted"
	ReasonSentinelPoolNeedsUsers  = "SentinelPoolNeedsUsers"
)

// Reasons of the Degraded condition.
const (
	// ReasonWritesNotAccepted: the primary does not take writes; the message
	// is Ready's.
	ReasonWritesNotAccepted = "WritesNotAccepted"
	ReasonReducedRedundancy = "ReducedRedundancy"
	ReasonProxiesNotReady   = "ProxiesNotReady"
	ReasonNotDegraded       = "NotDegraded"
)

// Reasons of the FailingOver condition.
const (
	ReasonNoSentinelAnswer    = "NoSentinelAnswer"
	ReasonNoSentinelMajority  = "NoSentinelMajority"
	ReasonPromotionInProgress = "PromotionInProgress"
	ReasonPrimaryDown         = "PrimaryDown"
	ReasonStable              = "Stable"
)

// Reasons of the ConfigInvalid, ConfigApplied and Progressing conditions.
const (
	ReasonRedisRefusedConfig = "RedisRefusedConfig"
	ReasonConfigAccepted     = "Accepted"
	ReasonRestartPending     = "RestartPending"
	ReasonApplying           = "Applying"
	ReasonInForce            = "InForce"
	// ReasonUsersRefused: an instance could not set up the Redis users,
	// most often because Redis refused spec.auth.applicationRules.
	ReasonUsersRefused  = "UsersRefused"
	ReasonSwitchover    = "Switchover"
	ReasonScalingDown   = "ScalingDown"
	ReasonRollingUpdate = "RollingUpdate"
	ReasonIdle          = "Idle"
)

// Reasons of the DataCorrupt, PasswordSecretInSync, StorageResized and
// AuthDisabled conditions.
const (
	ReasonCannotLoadData = "CannotLoadData"
	ReasonDataLoads      = "DataLoads"
	ReasonInSync         = "InSync"
	// ReasonPasswordSecretChanged: the source Secret holds another password
	// than the one in force, which stays.
	ReasonPasswordSecretChanged = "PasswordSecretChanged"
	// ReasonPasswordRotating: a new password from the source Secret is
	// being put in force; some instance or proxy does not take it yet, so
	// NAME-connection keeps the previous one.
	ReasonPasswordRotating = "PasswordRotating"
	ReasonResizeRefused    = "ResizeRefused"
	ReasonResizing         = "Resizing"
	ReasonResized          = "Resized"
	ReasonAuthEnabled      = "AuthEnabled"
	ReasonAuthDisabled     = "AuthDisabled"
	// ReasonImageAccepted: every instance runs a supported server, and
	// the image's server can take over the data.
	ReasonImageAccepted = "ImageAccepted"
	// ReasonMoveRefused: the image's server, read from its tag, cannot
	// replace what the instances run (unsupported version, downgrade, RDB
	// format); no pod was restarted for it.
	ReasonMoveRefused = "MoveRefused"
	// ReasonServerRefused: an instance manager refused to start the
	// image's server (unsupported version, or data it cannot read); the
	// data is untouched.
	ReasonServerRefused = "ServerRefused"
)

// Switchover results and reasons in status.lastSwitchover.
const (
	SwitchoverInProgress = "InProgress"
	SwitchoverSucceeded  = "Succeeded"
	SwitchoverFailed     = "Failed"

	// SwitchoverRequested: a user set status.targetPrimary (kubectl haredis
	// promote does).
	SwitchoverRequested = "Requested"
	// SwitchoverRollingUpdate: the rolling update moves the primary off the
	// pod it replaces next.
	SwitchoverRollingUpdate = "RollingUpdate"
)

// Reasons of the events the operator records on a RedisFailover and its
// pods.
const (
	EventFailover              = "Failover"
	EventSwitchoverStarted     = "SwitchoverStarted"
	EventSwitchover            = "Switchover"
	EventSwitchoverFailed      = "SwitchoverFailed"
	EventDurabilityNotRestored = "DurabilityNotRestored"
	EventRollingUpdate         = "RollingUpdate"
	EventScaledDown            = "ScaledDown"
	EventGrowingVolume         = "GrowingVolume"
	// EventVolumeNearlyFull: an instance's volume passed VolumeNearlyFullPercent.
	EventVolumeNearlyFull       = "VolumeNearlyFull"
	EventConfigInvalid          = "ConfigInvalid"
	EventConfigRestored         = "ConfigRestored"
	EventBootWaiting            = "BootWaiting"
	EventForcingPrimary         = "ForcingPrimary"
	EventForcedPrimary          = "ForcedPrimary"
	EventForcePrimaryRefused    = "ForcePrimaryRefused"
	EventForcePrimaryIgnored    = "ForcePrimaryIgnored"
	EventPasswordSecretRestored = "PasswordSecretRestored"
	// EventCertificateIssued: haredis issued or renewed NAME-tls.
	EventCertificateIssued = "CertificateIssued"
	// EventUserPasswordChanged: a declared user's Secret holds a new
	// password; the previous one is accepted until the grace period ends.
	EventUserPasswordChanged = "UserPasswordChanged"
	// EventPasswordRotation: a rotation of the application password began,
	// put the new one in NAME-connection, or ended (the previous one is
	// no longer accepted).
	EventPasswordRotation = "PasswordRotation"
	EventSentinelReset    = "SentinelReset"
	// EventSentinelPoolJoined: the pool's sentinels monitor the
	// RedisFailover; EventSentinelPoolLeft: they no longer do.
	EventSentinelPoolJoined = "SentinelPoolJoined"
	EventSentinelPoolLeft   = "SentinelPoolLeft"
	EventSentinelRepaired   = "SentinelRepaired"
	// EventSentinelPoolTaught: the pool's sentinels heard of no replica of
	// a RedisFailover whose recorded primary waits for a failover; they
	// are taught its every instance (on the RedisFailover), and restarted
	// one at a time to learn it (EventPoolSentinelRestarted, on the pool).
	EventSentinelPoolTaught    = "SentinelPoolTaught"
	EventPoolSentinelRestarted = "PoolSentinelRestarted"
	EventHibernating           = "Hibernating"
	EventHibernated            = "Hibernated"
	EventWaking                = "Waking"
	EventFenced                = "Fenced"
	EventUnfenced              = "Unfenced"
	// EventCutover: a live import's cutover made haredis's primary the
	// writer; EventCutoverFailed: an attempt did not, the import goes on.
	EventCutover       = "Cutover"
	EventCutoverFailed = "CutoverFailed"
)

// The condition of a RedisBackup (status.conditions[].type): True once the
// backup is in the store; False with a reason while it waits or runs, or
// once it failed. docs/backup.md tells what each reason means.
const ConditionBackupCompleted = "Completed"

// Reasons of a RedisBackup's Completed condition.
const (
	// ReasonBackupFailoverNotFound: spec.failover names no RedisFailover of
	// the namespace (yet).
	ReasonBackupFailoverNotFound = "FailoverNotFound"
	// ReasonBackupNoObjectStore: neither the RedisBackup's
	// spec.objectStore nor the RedisFailover's spec.backup.objectStore is
	// set.
	ReasonBackupNoObjectStore = "NoObjectStore"
	// ReasonBackupCredentialsMissing: the credentials Secret is missing or
	// holds no usable keys.
	ReasonBackupCredentialsMissing = "CredentialsMissing"
	// ReasonBackupStoreRefused: the store refused the credentials or has no
	// such bucket.
	ReasonBackupStoreRefused = "StoreRefused"
	// ReasonBackupStoreUnreachable: the store does not answer.
	ReasonBackupStoreUnreachable = "StoreUnreachable"
	// ReasonBackupNoReadyInstance: no instance is ready to take the
	// snapshot from.
	ReasonBackupNoReadyInstance = "NoReadyInstance"
	// ReasonBackupInstanceBusy: the chosen instance streams another backup.
	ReasonBackupInstanceBusy = "InstanceBusy"
	// ReasonBackupRunning: the instance streams its snapshot.
	ReasonBackupRunning = "Running"
	// ReasonBackupCompleted: the object is in the store.
	ReasonBackupCompleted = "Completed"
	// ReasonBackupStreamFailed: the snapshot or its upload failed.
	ReasonBackupStreamFailed = "StreamFailed"
	// ReasonBackupSourceLost: the instance that streamed the backup
	// restarted or went away before it ended.
	ReasonBackupSourceLost = "SourceLost"
	// ReasonBackupTimedOut: the backup waited longer than it may to start.
	ReasonBackupTimedOut = "TimedOut"
)
