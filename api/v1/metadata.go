package v1

// Labels, annotations and the finalizer haredis puts on the objects of a
// RedisFailover, and the one annotation a user sets on it.
const (
	// LabelRedisInstance names the Redis instance (NAME-N) of a pod and of
	// its volume.
	LabelRedisInstance = "haredis.dev/instance"
	// LabelRole is primary or replica; the operator moves it on failover so
	// that the NAME-primary and NAME-replicas Services follow, and the
	// instance manager reports its pod not ready while the label says
	// primary and Redis does not.
	LabelRole = "haredis.dev/role"
	// LabelDetached on a PVC marks the volume of an instance removed by a
	// scale down and kept by the storage policy: it is no longer part of
	// the RedisFailover and never reused.
	LabelDetached = "haredis.dev/detached"
	// LabelFailover on a RedisBackup names its RedisFailover, so that
	// `kubectl get rb -l haredis.dev/failover=NAME` lists its backups.
	LabelFailover = "haredis.dev/failover"
	// LabelScheduled on a RedisBackup marks one created by
	// spec.backup.schedule: retention deletes those only.
	LabelScheduled = "haredis.dev/scheduled"

	// AnnotationForcePrimary on a RedisFailover is a human's choice of
	// primary when haredis cannot tell which instance holds the newest data
	// (the boot decisions say so in the status); the operator removes it
	// once that instance is primary.
	AnnotationForcePrimary = "haredis.dev/force-primary"
	// AnnotationCutover on a RedisFailover that imports live from a
	// running Redis (spec.bootstrap.fromRedis) asks for the cutover; the
	// operator removes it once it has tried, and reports the outcome in
	// status.liveImport.
	AnnotationCutover = "haredis.dev/cutover"
	// AnnotationLastSerial on the RedisFailover records the highest instance
	// serial ever used, so a number is never reused even after status is lost.
	AnnotationLastSerial = "haredis.dev/last-serial"
	// AnnotationConfigGeneration on a pod is the generation of the parameter
	// group last applied to it with PUT /config or seen in force on it: a
	// difference after that is drift.
	AnnotationConfigGeneration = "haredis.dev/config-generation"
	// AnnotationConfigError on a pod holds Redis's refusal of the last
	// parameter group PUT to it, so the condition survives without retrying.
	AnnotationConfigError = "haredis.dev/config-error"
	// AnnotationRevision on a pod identifies the template it was built from.
	AnnotationRevision = "haredis.dev/revision"
	// AnnotationTrustedSince, on NAME-tls, is when its ca.crt began to
	// trust a new CA (RFC 3339): the certificate that CA signs replaces the
	// old one only once every pod had the time to read the new ca.crt.
	AnnotationTrustedSince = "haredis.dev/trusted-since"

	// LabelSentinelPool on a pod names the SentinelPool it is a sentinel
	// of.
	LabelSentinelPool = "haredis.dev/sentinel-pool"

	// PoolFinalizer of a SentinelPool: holds it while RedisFailovers use
	// it.
	PoolFinalizer = "haredis.dev/pool-in-use"

	// Finalizer of a RedisFailover: deletes PVCs per the storage policy.
	Finalizer = "haredis.dev/volumes"
)
