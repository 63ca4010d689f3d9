package controller

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crcontroller "sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/instanceapi"
	"github.com/haredis/haredis/internal/objectstore"
	"github.com/haredis/haredis/internal/specs"
)

const (
	// BackupStartTimeout is how long a RedisBackup may wait for its
	// RedisFailover, store and a ready instance before it is Failed.
	BackupStartTimeout = 5 * time.Minute
	// backupPollPeriod paces the look at a running backup.
	backupPollPeriod = 2 * time.Second
	// backupSourceGrace is how long the streaming instance may not answer
	// before the backup is Failed.
	backupSourceGrace = 2 * time.Minute
)

// RedisBackupReconciler takes one backup per RedisBackup: it picks the
// instance, asks its manager to stream the snapshot to the store, follows
// it to the end and records what the object holds. The state lives in the
// RedisBackup's status and in the instance manager, so an operator restart
// picks a running backup up where it was.
type RedisBackupReconciler struct {
	client.Client
	// APIReader reads the credentials Secret and the manager token, which
	// the cache (haredis's own objects) may not hold.
	APIReader client.Reader
	Recorder  events.EventRecorder
	Reach     Reach
	HTTP      *http.Client
	// StartTimeout overrides BackupStartTimeout (tests).
	StartTimeout time.Duration

	// answered records, per RedisBackup UID, when its instance last
	// answered about it.
	answered sync.Map
}

// SetupWithManager registers the controller.
func (r *RedisBackupReconciler) SetupWithManager(mgr manager.Manager, opts crcontroller.Options) error {
	if r.Reach == nil {
		r.Reach = PodReach{}
	}
	if r.HTTP == nil {
		r.HTTP = &http.Client{Timeout: 5 * time.Second}
	}
	if r.APIReader == nil {
		r.APIReader = r.Client
	}
	if r.StartTimeout == 0 {
		r.StartTimeout = BackupStartTimeout
	}
	return builder.ControllerManagedBy(mgr).
		For(&haredisv1.RedisBackup{}).
		WithOptions(opts).
		Complete(r)
}

// Reconcile moves a RedisBackup one step: start it, or follow it.
func (r *RedisBackupReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	rb := &haredisv1.RedisBackup{}
	if err := r.Get(ctx, req.NamespacedName, rb); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	switch rb.Status.Phase {
	case haredisv1.BackupCompleted, haredisv1.BackupFailed:
		r.answered.Delete(rb.UID)
		return reconcile.Result{}, nil
	case haredisv1.BackupRunning:
		return r.follow(ctx, rb)
	}
	return r.start(ctx, rb)
}

// waiting is why a backup cannot start yet.
type waiting struct{ reason, msg string }

func (w *waiting) Error() string { return w.msg }

func wait(reason, format string, args ...any) error {
	return &waiting{reason: reason, msg: fmt.Sprintf(format, args...)}
}

// start checks the RedisFailover, the store and the source, then asks the
// source's manager to stream. What is missing keeps the backup Pending,
// said in its condition, until StartTimeout after its creation.
func (r *RedisBackupReconciler) start(ctx context.Context, rb *haredisv1.RedisBackup) (reconcile.Result, error) {
	err := r.startOnce(ctx, rb)
	if err == nil {
		return reconcile.Result{RequeueAfter: backupPollPeriod}, nil
	}
	var w *waiting
	if !errors.As(err, &w) {
		return reconcile.Result{}, err
	}
	if time.Since(rb.CreationTimestamp.Time) > r.StartTimeout {
		r.fail(rb, haredisv1.ReasonBackupTimedOut, fmt.Sprintf("not started within %s: %s", r.StartTimeout, w.msg))
		return reconcile.Result{}, r.writeStatus(ctx, rb)
	}
	rb.Status.Phase = haredisv1.BackupPending
	setBackupCondition(rb, false, w.reason, w.msg)
	return reconcile.Result{RequeueAfter: 5 * time.Second}, r.writeStatus(ctx, rb)
}

func (r *RedisBackupReconciler) startOnce(ctx context.Context, rb *haredisv1.RedisBackup) error {
	rf := &haredisv1.RedisFailover{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: rb.Namespace, Name: rb.Spec.Failover.Name}, rf); err != nil {
		if apierrors.IsNotFound(err) {
			return wait(haredisv1.ReasonBackupFailoverNotFound, "RedisFailover %s does not exist in namespace %s: create it, or name another one in spec.failover.name", rb.Spec.Failover.Name, rb.Namespace)
		}
		return fmt.Errorf("cannot get RedisFailover %s: %w", rb.Spec.Failover.Name, err)
	}
	cfg, err := r.storeConfig(ctx, rb, rf)
	if err != nil {
		return err
	}
	if err := checkStore(ctx, cfg); err != nil {
		return err
	}
	source, role, err := backupSource(rf)
	if err != nil {
		return err
	}
	pod := &corev1.Pod{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: rf.Namespace, Name: source}, pod); err != nil {
		return wait(haredisv1.ReasonBackupNoReadyInstance, "cannot get the pod of %s: %v", source, err)
	}
	mc, err := r.managerClient(ctx, rf, pod)
	if err != nil {
		return err
	}
	key := backupKey(rb)
	started, err := mc.StartBackup(ctx, instanceapi.BackupRequest{ID: string(rb.UID), Key: key, Store: storeRequest(cfg)})
	switch {
	case instanceapi.StatusCode(err) == http.StatusConflict:
		return wait(haredisv1.ReasonBackupInstanceBusy, "%s streams another backup; this one starts after it", source)
	case err != nil:
		return wait(haredisv1.ReasonBackupNoReadyInstance, "cannot ask the manager of %s to take the backup: %v", source, err)
	}
	now := metav1.Now()
	if !started.StartTime.IsZero() {
		now = metav1.NewTime(started.StartTime)
	}
	rb.Status.Phase = haredisv1.BackupRunning
	rb.Status.Source, rb.Status.SourceRole = source, role
	rb.Status.StartTime = &now
	rb.Status.Location = &haredisv1.BackupLocation{Endpoint: cfg.Endpoint, Bucket: cfg.Bucket, Key: cfg.Prefix + key,
		Region: cfg.Region, CredentialsSecret: storeOf(rb, rf).CredentialsSecret}
	msg := fmt.Sprintf("%s streams its snapshot to %s", source, rb.Status.Location.URL())
	if role == haredisv1.RolePrimary {
		msg = fmt.Sprintf("no replica is in sync: the primary %s streams its snapshot to %s (it forks for it)", source, rb.Status.Location.URL())
	}
	setBackupCondition(rb, false, haredisv1.ReasonBackupRunning, msg)
	r.answered.Store(rb.UID, time.Now())
	r.Recorder.Eventf(rb, nil, corev1.EventTypeNormal, "Started", "Backup", "%s", msg)
	return r.writeStatus(ctx, rb)
}

// follow asks the source's manager how the backup goes and records its
// end.
func (r *RedisBackupReconciler) follow(ctx context.Context, rb *haredisv1.RedisBackup) (reconcile.Result, error) {
	st, err := r.askSource(ctx, rb)
	switch {
	case instanceapi.StatusCode(err) == http.StatusNotFound:
		r.fail(rb, haredisv1.ReasonBackupSourceLost, fmt.Sprintf("the instance manager of %s no longer knows this backup: it restarted before the backup ended; create a new RedisBackup", rb.Status.Source))
		return reconcile.Result{}, r.writeStatus(ctx, rb)
	case err != nil:
		first, _ := r.answered.LoadOrStore(rb.UID, time.Now())
		if since := time.Since(first.(time.Time)); since > backupSourceGrace {
			r.fail(rb, haredisv1.ReasonBackupSourceLost, fmt.Sprintf("%s has not answered for %s: %v; create a new RedisBackup", rb.Status.Source, since.Round(time.Second), err))
			return reconcile.Result{}, r.writeStatus(ctx, rb)
		}
		return reconcile.Result{RequeueAfter: backupPollPeriod}, nil
	}
	r.answered.Store(rb.UID, time.Now())
	switch st.Phase {
	case instanceapi.BackupCompleted:
		return reconcile.Result{}, r.complete(ctx, rb, st)
	case instanceapi.BackupFailed:
		r.fail(rb, haredisv1.ReasonBackupStreamFailed, fmt.Sprintf("%s could not stream its snapshot: %s", rb.Status.Source, st.Error))
		return reconcile.Result{}, r.writeStatus(ctx, rb)
	}
	return reconcile.Result{RequeueAfter: backupPollPeriod}, nil
}

func (r *RedisBackupReconciler) askSource(ctx context.Context, rb *haredisv1.RedisBackup) (*instanceapi.BackupStatus, error) {
	rf := &haredisv1.RedisFailover{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: rb.Namespace, Name: rb.Spec.Failover.Name}, rf); err != nil {
		return nil, fmt.Errorf("cannot get RedisFailover %s: %w", rb.Spec.Failover.Name, err)
	}
	pod := &corev1.Pod{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: rb.Namespace, Name: rb.Status.Source}, pod); err != nil {
		return nil, fmt.Errorf("cannot get the pod of %s: %w", rb.Status.Source, err)
	}
	mc, err := r.managerClient(ctx, rf, pod)
	if err != nil {
		return nil, err
	}
	return mc.Backup(ctx, string(rb.UID))
}

// complete records the finished backup once the store shows its object.
func (r *RedisBackupReconciler) complete(ctx context.Context, rb *haredisv1.RedisBackup, st *instanceapi.BackupStatus) error {
	rb.Status.ReplicationID, rb.Status.ReplicationOffset = st.ReplID, st.Offset
	rb.Status.Keys, rb.Status.SizeBytes, rb.Status.SHA256 = st.Keys, st.Size, st.SHA256
	rb.Status.RDBVersion = st.RDBVersion
	if st.Engine != "" {
		rb.Status.Server = st.Engine + " " + st.EngineVersion
	}
	end := metav1.Now()
	if !st.EndTime.IsZero() {
		end = metav1.NewTime(st.EndTime)
	}
	rb.Status.EndTime = &end
	rb.Status.Phase = haredisv1.BackupCompleted
	took := end.Sub(rb.Status.StartTime.Time).Round(100 * time.Millisecond)
	msg := fmt.Sprintf("%d keys, %d bytes at offset %d of %s, streamed from %s in %s", st.Keys, st.Size, st.Offset, rb.Status.Source, rb.Status.SourceRole, took)
	setBackupCondition(rb, true, haredisv1.ReasonBackupCompleted, msg)
	r.Recorder.Eventf(rb, nil, corev1.EventTypeNormal, "Completed", "Backup", "%s", msg)
	backupsTotal.WithLabelValues(rb.Namespace, string(haredisv1.BackupCompleted)).Inc()
	backupSeconds.Observe(took.Seconds())
	log.FromContext(ctx).Info("backup completed", "source", rb.Status.Source, "keys", st.Keys, "bytes", st.Size, "offset", st.Offset, "took", took.String())
	return r.writeStatus(ctx, rb)
}

func (r *RedisBackupReconciler) fail(rb *haredisv1.RedisBackup, reason, msg string) {
	now := metav1.Now()
	rb.Status.Phase = haredisv1.BackupFailed
	rb.Status.EndTime = &now
	setBackupCondition(rb, false, reason, msg)
	r.answered.Delete(rb.UID)
	r.Recorder.Eventf(rb, nil, corev1.EventTypeWarning, "Failed", "Backup", "%s", msg)
	backupsTotal.WithLabelValues(rb.Namespace, string(haredisv1.BackupFailed)).Inc()
}

func (r *RedisBackupReconciler) writeStatus(ctx context.Context, rb *haredisv1.RedisBackup) error {
	if err := r.Status().Update(ctx, rb); err != nil {
		return fmt.Errorf("cannot write the status of RedisBackup %s: %w", rb.Name, err)
	}
	return nil
}

func setBackupCondition(rb *haredisv1.RedisBackup, ok bool, reason, msg string) {
	s := metav1.ConditionFalse
	if ok {
		s = metav1.ConditionTrue
	}
	meta.SetStatusCondition(&rb.Status.Conditions, metav1.Condition{
		Type: haredisv1.ConditionBackupCompleted, Status: s, Reason: reason, Message: msg, ObservedGeneration: rb.Generation,
	})
}

// storeOf is the store a backup goes to: its own, else its
// RedisFailover's; nil when neither is set.
func storeOf(rb *haredisv1.RedisBackup, rf *haredisv1.RedisFailover) *haredisv1.ObjectStore {
	if rb.Spec.ObjectStore != nil {
		return rb.Spec.ObjectStore
	}
	if rf.Spec.Backup != nil {
		return &rf.Spec.Backup.ObjectStore
	}
	return nil
}

// storeConfig resolves the store of a backup: the RedisBackup's own, else
// its RedisFailover's, with the keys of the credentials Secret.
func (r *RedisBackupReconciler) storeConfig(ctx context.Context, rb *haredisv1.RedisBackup, rf *haredisv1.RedisFailover) (objectstore.Config, error) {
	store := storeOf(rb, rf)
	if store == nil {
		return objectstore.Config{}, wait(haredisv1.ReasonBackupNoObjectStore,
			"no object store: set spec.objectStore of this RedisBackup, or spec.backup.objectStore of RedisFailover %s", rf.Name)
	}
	data, err := storeSecretData(ctx, r.APIReader, rb.Namespace, store.CredentialsSecret, haredisv1.ReasonBackupCredentialsMissing)
	if err != nil {
		return objectstore.Config{}, err
	}
	cfg, err := objectstore.FromSpec(*store, rf.Namespace, rf.Name, data)
	if err != nil {
		return objectstore.Config{}, wait(haredisv1.ReasonBackupCredentialsMissing, "%v", err)
	}
	return cfg, nil
}

// checkStore asks the store whether the bucket is there and the
// credentials work, before an instance forks for nothing. A web identity
// belongs to the pods, not to the operator: the instance checks it.
func checkStore(ctx context.Context, cfg objectstore.Config) error {
	if cfg.Credentials.AccessKeyID == "" {
		return nil
	}
	c, err := objectstore.New(cfg)
	if err != nil {
		return wait(haredisv1.ReasonBackupStoreRefused, "invalid object store: %v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err = c.Check(ctx)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, objectstore.ErrUnreachable):
		return wait(haredisv1.ReasonBackupStoreUnreachable, "%v", err)
	}
	return wait(haredisv1.ReasonBackupStoreRefused, "%v", err)
}

// backupSource picks the instance to take the snapshot from: the replica
// in sync with the least lag (no fork on the primary), else the primary.
func backupSource(rf *haredisv1.RedisFailover) (string, haredisv1.Role, error) {
	var replicas []haredisv1.InstanceStatus
	primaryReady := false
	for _, in := range rf.Status.Instances {
		switch {
		case !in.Ready:
		case in.Role == haredisv1.RoleReplica:
			replicas = append(replicas, in)
		case in.Role == haredisv1.RolePrimary && in.Name == rf.Status.CurrentPrimary:
			primaryReady = true
		}
	}
	if len(replicas) > 0 {
		sort.SliceStable(replicas, func(i, j int) bool {
			if replicas[i].LagBytes != replicas[j].LagBytes {
				return replicas[i].LagBytes < replicas[j].LagBytes
			}
			return replicas[i].Name > replicas[j].Name
		})
		return replicas[0].Name, haredisv1.RoleReplica, nil
	}
	if primaryReady {
		return rf.Status.CurrentPrimary, haredisv1.RolePrimary, nil
	}
	return "", "", wait(haredisv1.ReasonBackupNoReadyInstance, "RedisFailover %s has no ready instance to take the snapshot from (status.instances); the backup starts when one is", rf.Name)
}

// managerClient talks to the manager of pod with its RedisFailover's token.
func (r *RedisBackupReconciler) managerClient(ctx context.Context, rf *haredisv1.RedisFailover, pod *corev1.Pod) (*instanceapi.Client, error) {
	url := r.Reach.InstanceURL(rf, pod)
	if url == "" {
		return nil, wait(haredisv1.ReasonBackupNoReadyInstance, "the pod of %s has no address yet", pod.Name)
	}
	sec := &corev1.Secret{}
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: rf.Namespace, Name: specs.InternalSecretName(rf)}, sec); err != nil {
		return nil, fmt.Errorf("cannot get the manager token of RedisFailover %s: %w", rf.Name, err)
	}
	return &instanceapi.Client{BaseURL: url, Token: string(sec.Data[specs.TokenKey]), HTTP: r.HTTP}, nil
}

// backupKey is the object's key under the RedisFailover's prefix: the
// RedisBackup's name and a part of its UID, so a RedisBackup deleted and
// created again under its name never overwrites the first one's object.
func backupKey(rb *haredisv1.RedisBackup) string {
	uid := string(rb.UID)
	if len(uid) > 8 {
		uid = uid[:8]
	}
	return fmt.Sprintf("backups/%s-%s.rdb", rb.Name, uid)
}

func storeRequest(cfg objectstore.Config) instanceapi.Store {
	return instanceapi.Store{
		Endpoint: cfg.Endpoint, Bucket: cfg.Bucket, Prefix: cfg.Prefix, Region: cfg.Region,
		AccessKeyID: cfg.Credentials.AccessKeyID, SecretAccessKey: cfg.Credentials.SecretAccessKey,
		EncryptionMode: cfg.Encryption.Mode, KMSKeyID: cfg.Encryption.KMSKeyID,
	}
}
