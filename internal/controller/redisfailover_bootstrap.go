package controller

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/instanceapi"
	"github.com/haredis/haredis/internal/instanceconfig"
	"github.com/haredis/haredis/internal/objectstore"
	"github.com/haredis/haredis/internal/specs"
)

const (
	// bootstrapURLValidity is how long a signed URL of the seed file is
	// valid; a new one is signed when less than bootstrapURLMargin is left.
	bootstrapURLValidity = 24 * time.Hour
	bootstrapURLMargin   = time.Hour
	// bootstrapRetry paces the look at a source that is not there yet.
	bootstrapRetry = 10 * time.Second
)

// resolveBootstrap, while a new RedisFailover with spec.bootstrap has not
// been seeded, finds the seed file (a RedisBackup's object, an object of a
// store, or a URL) and hands its URL and checksum to the initial primary
// (Secret NAME-internal and instance.json). No pod is created before the
// source is found: an instance must never start empty in its place.
// The URL, a credential when signed, goes through the manager's
// authenticated API (deliverSeed), never into a Secret or a ConfigMap.
func (r *RedisFailoverReconciler) resolveBootstrap(ctx context.Context, rf *haredisv1.RedisFailover, st *state) (ctrl.Result, error) {
	if rf.Spec.Bootstrap == nil || bootstrapDone(rf) {
		return ctrl.Result{}, nil
	}
	// Volumes older than this RedisFailover: it was deleted and created
	// again on its kept volumes (the manifest still has spec.bootstrap).
	// Their data is newer than any seed, and the seed may be long gone. A
	// live import instead goes on from what the volume holds: its manager
	// knows whether its cutover happened (the record on the volume).
	if rf.Spec.Bootstrap.FromRedis == nil {
		old, err := r.volumesBefore(ctx, rf)
		if err != nil {
			return ctrl.Result{}, err
		}
		if old != "" {
			setBootstrapped(rf, true, haredisv1.ReasonBootstrapSkipped, fmt.Sprintf("the seed is not loaded: the volume %s is older than this RedisFailover and keeps its data", old))
			r.event(rf, corev1.EventTypeNormal, haredisv1.ReasonBootstrapSkipped, "Bootstrap", "spec.bootstrap is not used: the volume %s existed before this RedisFailover and keeps its data", old)
			return ctrl.Result{}, nil
		}
	}
	src, err := r.bootstrapSource(ctx, rf)
	var w *waiting
	if errors.As(err, &w) {
		setBootstrapped(rf, false, w.reason, w.msg)
		res, err := r.blocked(ctx, rf, haredisv1.ReasonBootstrapPending, "spec.bootstrap: "+w.msg)
		if err == nil {
			res.RequeueAfter = bootstrapRetry
		}
		return res, err
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	st.bootstrap = &instanceconfig.Bootstrap{Instance: rf.Status.CurrentPrimary, Source: src.describe, SHA256: src.sha256}
	st.seedURL = src.url
	reason, msg := haredisv1.ReasonBootstrapLoading, fmt.Sprintf("%s loads %s before its first start", rf.Status.CurrentPrimary, src.describe)
	if rf.Spec.Bootstrap.FromRedis != nil {
		st.bootstrap.FromRedis = &instanceconfig.LiveSource{Addr: importSource(rf)}
		reason, msg = haredisv1.ReasonBootstrapImporting, fmt.Sprintf("%s replicates from %s until the cutover (status.liveImport)", rf.Status.CurrentPrimary, src.describe)
	}
	if c := meta.FindStatusCondition(rf.Status.Conditions, haredisv1.ConditionBootstrapped); c == nil || c.Reason != reason {
		setBootstrapped(rf, false, reason, msg)
	}
	return ctrl.Result{}, nil
}

// volumesBefore names a volume of rf's instances created before rf, "" when
// none is.
func (r *RedisFailoverReconciler) volumesBefore(ctx context.Context, rf *haredisv1.RedisFailover) (string, error) {
	var pvcs corev1.PersistentVolumeClaimList
	if err := r.List(ctx, &pvcs, client.InNamespace(rf.Namespace), client.MatchingLabels(specs.Selector(rf, specs.ComponentRedis))); err != nil {
		return "", fmt.Errorf("cannot list PVCs: %w", err)
	}
	for _, p := range pvcs.Items {
		if p.CreationTimestamp.Before(&rf.CreationTimestamp) {
			return p.Name, nil
		}
	}
	return "", nil
}

// bootstrapDone: the seed was loaded (or found unneeded) once; it is never
// loaded again.
func bootstrapDone(rf *haredisv1.RedisFailover) bool {
	return meta.IsStatusConditionTrue(rf.Status.Conditions, haredisv1.ConditionBootstrapped)
}

func setBootstrapped(rf *haredisv1.RedisFailover, ok bool, reason, msg string) {
	s := metav1.ConditionFalse
	if ok {
		s = metav1.ConditionTrue
	}
	meta.SetStatusCondition(&rf.Status.Conditions, metav1.Condition{
		Type: haredisv1.ConditionBootstrapped, Status: s, Reason: reason, Message: msg, ObservedGeneration: rf.Generation,
	})
}

// seed is a resolved bootstrap source.
type seed struct {
	url, sha256, describe string
}

func (r *RedisFailoverReconciler) bootstrapSource(ctx context.Context, rf *haredisv1.RedisFailover) (seed, error) {
	b := rf.Spec.Bootstrap
	switch {
	case b.FromBackup != nil:
		rb := &haredisv1.RedisBackup{}
		if err := r.Get(ctx, types.NamespacedName{Namespace: rf.Namespace, Name: b.FromBackup.Name}, rb); err != nil {
			if apierrors.IsNotFound(err) {
				return seed{}, wait(haredisv1.ReasonBootstrapSourceMissing, "fromBackup: RedisBackup %s does not exist in namespace %s; name a completed RedisBackup, or restore its object with fromRDB", b.FromBackup.Name, rf.Namespace)
			}
			return seed{}, fmt.Errorf("cannot get RedisBackup %s: %w", b.FromBackup.Name, err)
		}
		if rb.Status.Phase != haredisv1.BackupCompleted || rb.Status.Location == nil {
			return seed{}, wait(haredisv1.ReasonBootstrapSourceNotReady, "fromBackup: RedisBackup %s is %s, not Completed; the RedisFailover starts once it completes", rb.Name, orUnknown(string(rb.Status.Phase)))
		}
		loc := rb.Status.Location
		store := haredisv1.ObjectStore{Endpoint: loc.Endpoint, Bucket: loc.Bucket, Region: loc.Region, CredentialsSecret: loc.CredentialsSecret}
		u, err := r.signedURL(ctx, rf, store, loc.Key)
		if err != nil {
			return seed{}, err
		}
		return seed{url: u, sha256: rb.Status.SHA256, describe: fmt.Sprintf("RedisBackup %s (%s, %d keys)", rb.Name, loc.URL(), rb.Status.Keys)}, nil
	case b.FromRDB != nil && b.FromRDB.URL != "":
		return seed{url: b.FromRDB.URL, sha256: b.FromRDB.SHA256, describe: redactedURL(b.FromRDB.URL)}, nil
	case b.FromRDB != nil && b.FromRDB.ObjectStore != nil:
		u, err := r.signedURL(ctx, rf, *b.FromRDB.ObjectStore, b.FromRDB.Key)
		if err != nil {
			return seed{}, err
		}
		return seed{url: u, sha256: b.FromRDB.SHA256, describe: "s3://" + b.FromRDB.ObjectStore.Bucket + "/" + b.FromRDB.Key}, nil
	case b.FromRedis != nil:
		return seed{describe: "redis://" + importSource(rf)}, nil
	}
	return seed{}, wait(haredisv1.ReasonBootstrapSourceMissing, "no source haredis can load: set fromBackup, fromRDB or fromRedis")
}

// signedURL is a URL that reads key of store for a day. The URL signed
// before is kept while it is valid for more than an hour, so a manager that
// asks again gets the same one.
func (r *RedisFailoverReconciler) signedURL(ctx context.Context, rf *haredisv1.RedisFailover, store haredisv1.ObjectStore, key string) (string, error) {
	if old, ok := r.seeds.Load(rf.UID); ok {
		if u := old.(string); signedFor(u, store, key) && signedUntil(u).After(time.Now().Add(bootstrapURLMargin)) {
			return u, nil
		}
	}
	data, err := storeSecretData(ctx, r.APIReader, rf.Namespace, store.CredentialsSecret, haredisv1.ReasonBootstrapSourceMissing)
	if err != nil {
		return "", err
	}
	creds, err := objectstore.CredentialsFromSecret(data, nil)
	if err != nil {
		return "", wait(haredisv1.ReasonBootstrapSourceMissing, "%v", err)
	}
	c, err := objectstore.New(objectstore.Config{Endpoint: store.Endpoint, Bucket: store.Bucket, Region: store.Region, Credentials: creds})
	if err != nil {
		return "", wait(haredisv1.ReasonBootstrapStoreRefused, "invalid object store: %v", err)
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := c.Stat(sctx, key); err != nil {
		reason := haredisv1.ReasonBootstrapStoreRefused
		if errors.Is(err, objectstore.ErrNotFound) {
			reason = haredisv1.ReasonBootstrapSourceMissing
		}
		return "", wait(reason, "%v", err)
	}
	u, err := c.PresignGet(sctx, key, bootstrapURLValidity)
	if err != nil {
		return "", wait(haredisv1.ReasonBootstrapStoreRefused, "%v", err)
	}
	log.FromContext(ctx).Info("signed a URL of the seed file", "bucket", store.Bucket, "key", key, "validFor", bootstrapURLValidity.String())
	r.seeds.Store(rf.UID, u)
	return u, nil
}

// signedFor tells whether the signed URL u reads key of store.
func signedFor(u string, store haredisv1.ObjectStore, key string) bool {
	p, err := url.Parse(u)
	if err != nil || u == "" {
		return false
	}
	e, err := url.Parse(store.Endpoint)
	if err != nil {
		return false
	}
	return p.Host == e.Host && (p.Path == "/"+store.Bucket+"/"+key || p.Path == "/"+key)
}

// signedUntil reads the end of a SigV4 signed URL's validity; the zero
// time when it has none.
func signedUntil(u string) time.Time {
	p, err := url.Parse(u)
	if err != nil {
		return time.Time{}
	}
	q := p.Query()
	t, err := time.Parse("20060102T150405Z", q.Get("X-Amz-Date"))
	if err != nil {
		return time.Time{}
	}
	secs, err := strconv.Atoi(q.Get("X-Amz-Expires"))
	if err != nil {
		return time.Time{}
	}
	return t.Add(time.Duration(secs) * time.Second)
}

// redactedURL drops the query (a signature) and any user info of u.
func redactedURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	p.RawQuery, p.User, p.Fragment = "", nil, ""
	return p.String()
}

func orUnknown(s string) string {
	if s == "" {
		return "not started"
	}
	return s
}

// followBootstrap reads how the initial primary's manager loads the seed
// and records its end in the Bootstrapped condition; from then on the seed
// is never handed out again.
func (r *RedisFailoverReconciler) followBootstrap(rf *haredisv1.RedisFailover, st *state) {
	if st.bootstrap == nil || bootstrapDone(rf) {
		return
	}
	ms := st.statuses[st.bootstrap.Instance]
	if ms == nil || ms.Bootstrap == nil {
		return
	}
	b := ms.Bootstrap
	switch b.Phase {
	case instanceapi.BootstrapFailed:
		setBootstrapped(rf, false, haredisv1.ReasonBootstrapFailed, fmt.Sprintf("%s cannot load %s: %s; it stays stopped. Fix spec.bootstrap by creating a new RedisFailover (delete this one and its volumes first)", st.bootstrap.Instance, b.Source, b.Error))
	case instanceapi.BootstrapSkipped:
		setBootstrapped(rf, true, haredisv1.ReasonBootstrapSkipped, fmt.Sprintf("%s was not loaded: %s", b.Source, b.Error))
		r.event(rf, corev1.EventTypeWarning, haredisv1.ReasonBootstrapSkipped, "Bootstrap", "%s was not loaded: %s", b.Source, b.Error)
	case instanceapi.BootstrapLoaded:
		if ms.Role != instanceapi.RolePrimary || !ms.Ready {
			return
		}
		setBootstrapped(rf, true, haredisv1.ReasonBootstrapLoaded, fmt.Sprintf("%s loaded %s: %d bytes, sha256 %s, %d keys", st.bootstrap.Instance, b.Source, b.Bytes, b.SHA256, ms.Keys))
		r.event(rf, corev1.EventTypeNormal, haredisv1.ReasonBootstrapLoaded, "Bootstrap", "%s loaded %s: %d keys", st.bootstrap.Instance, b.Source, ms.Keys)
	}
}

// deliverSeed hands the seed's URL to the initial primary's manager when it
// waits for it (at its first start, after a restart, or after the store
// refused an expired signature).
func (r *RedisFailoverReconciler) deliverSeed(ctx context.Context, rf *haredisv1.RedisFailover, st *state) (ctrl.Result, error) {
	if st.bootstrap == nil || st.seedURL == "" {
		return ctrl.Result{}, nil
	}
	ms, pod := st.statuses[st.bootstrap.Instance], st.pods[st.bootstrap.Instance]
	if ms == nil || ms.Bootstrap == nil || !ms.Bootstrap.WaitingForURL || pod == nil {
		return ctrl.Result{}, nil
	}
	if err := r.instanceClient(rf, pod, st).PutSeed(ctx, st.seedURL); err != nil {
		log.FromContext(ctx).Error(err, "cannot hand the seed's URL over", "instance", st.bootstrap.Instance)
		return ctrl.Result{}, nil
	}
	log.FromContext(ctx).Info("handed the seed's URL over", "instance", st.bootstrap.Instance, "source", st.bootstrap.Source)
	return ctrl.Result{}, nil
}
