package controller

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crcontroller "sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/acl"
	"github.com/haredis/haredis/internal/instanceapi"
	"github.com/haredis/haredis/internal/instanceconfig"
	"github.com/haredis/haredis/internal/sentinel"
	"github.com/haredis/haredis/internal/specs"
)

// ObservePeriod is how often a RedisFailover is observed without any event;
// Sentinel's +switch-master events trigger a reconcile at once.
const ObservePeriod = 5 * time.Second

// maxConcurrentReconciles is how many RedisFailovers are reconciled at
// once (one worker per object at most).
const maxConcurrentReconciles = 12

// RedisFailoverReconciler turns a RedisFailover into its Pods, PVCs,
// Services, Secrets, ConfigMap, PodDisruptionBudgets and RBAC, and reports
// what the instances and sentinels say in its status.
type RedisFailoverReconciler struct {
	client.Client
	Scheme   *runtime.Scheme
	Recorder events.EventRecorder
	Options  specs.Options
	// Reach says how to reach instances and sentinels (PodReach in a cluster).
	Reach Reach
	// HTTP talks to the instance managers (a 2 s timeout when nil).
	HTTP *http.Client
	// APIReader reads from the API server, bypassing the cache, which
	// holds only the objects haredis labels as its own (OwnedObjectsCache):
	// the user's password Secret, and an object of haredis's name that was
	// re-created by hand without the labels. The client itself when nil.
	APIReader client.Reader

	watchers *watcherSet
	// switchovers runs planned switchovers off the reconcile workers.
	switchovers *switchoverRunner
	// tuned records, per sentinel address, when and which process last got
	// haredis's timings (a tuned value).
	tuned sync.Map
	// cutoverFailed records, per RedisFailover, when its last live import
	// cutover failed (cutover: Automatic waits a while before the next).
	cutoverFailed sync.Map
	// waits records, per instance, the boot decision wait an event was
	// recorded for, so that each wait gives one event.
	waits sync.Map
	// seeds holds, per RedisFailover UID, the signed URL of its seed.
	seeds sync.Map
	// restores records, per pod UID, how many parameter restores of its
	// instance manager an event was recorded for.
	restores sync.Map
	// switches holds, per RedisFailover UID, the last primary a sentinel
	// announced with +switch-master (a switchSeen), and labelLocks a
	// mutex per RedisFailover UID that orders the moves of its role
	// labels (followSwitch and the reconcile).
	switches   sync.Map
	labelLocks sync.Map
}

// SetupWithManager registers the controller: it owns every object it
// creates, and follows the sentinels of each RedisFailover through a channel
// fed by one Sentinel watcher per RedisFailover.
func (r *RedisFailoverReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Reach == nil {
		r.Reach = PodReach{}
	}
	if r.HTTP == nil {
		r.HTTP = &http.Client{Timeout: 2 * time.Second}
	}
	if r.APIReader == nil {
		r.APIReader = r.Client
	}
	// Sentinel events and finished switchovers of every RedisFailover; a
	// full channel drops a trigger, leaving that RedisFailover to its next
	// periodic look.
	triggers := make(chan event.GenericEvent, 1024)
	r.watchers = newWatcherSet(triggers, r.followSwitch, mgr.GetLogger().WithName("sentinel-watcher"))
	if err := mgr.Add(r.watchers); err != nil {
		return fmt.Errorf("cannot register the sentinel watchers: %w", err)
	}
	r.switchovers = newSwitchoverRunner(triggers, mgr.GetLogger().WithName("switchover"))
	if err := mgr.Add(r.switchovers); err != nil {
		return fmt.Errorf("cannot register the switchover runner: %w", err)
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&haredisv1.RedisFailover{}).
		Owns(&corev1.Pod{}).
		Owns(&corev1.Service{}).
		Owns(&corev1.ConfigMap{}).
		Owns(&corev1.Secret{}).
		Owns(&policyv1.PodDisruptionBudget{}).
		Owns(&networkingv1.NetworkPolicy{}).
		Owns(&corev1.ServiceAccount{}).
		Owns(&rbacv1.Role{}).
		Owns(&rbacv1.RoleBinding{}).
		Owns(&appsv1.Deployment{}).
		WatchesRawSource(source.Channel(triggers, &handler.EnqueueRequestForObject{})).
		// A RedisBackup that ends moves its RedisFailover's retention and
		// status.backup at once.
		Watches(&haredisv1.RedisBackup{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			rb, ok := o.(*haredisv1.RedisBackup)
			if !ok {
				return nil
			}
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: rb.Namespace, Name: rb.Spec.Failover.Name}}}
		})).
		// Reconciles are short but wait on the network (sentinels, instance
		// managers, proxies: every call with a timeout of a second or two;
		// switchovers run off the workers, in switchoverRunner), so more
		// workers than cores keep a failover's labels moving while others
		// are looked at closely after a hint (measured with make
		// bench-scale: four workers were all busy at 50 RedisFailovers).
		WithOptions(crcontroller.Options{MaxConcurrentReconciles: maxConcurrentReconciles}).
		Named("redisfailover").
		Complete(r)
}

// step is one link of the reconcile chain: a non-zero result or an error
// ends the chain.
type step func(ctx context.Context, rf *haredisv1.RedisFailover, st *state) (ctrl.Result, error)

// state carries what one reconcile learnt from step to step.
type state struct {
	password string
	// tls is the client config of every connection to rf's instances,
	// sentinels and proxies (their CA), nil without TLS.
	tls *tls.Config
	// tlsInfo is the certificate's state, for the status and
	// NAME-connection.
	tlsInfo tlsState
	// token is the manager token every instance manager requires.
	token string
	// proxyToken is the bearer token of the proxies' admin endpoints.
	proxyToken string
	// internal are the internal users' passwords (acl package).
	internal acl.Passwords
	// declared are the users spec.auth.users declares, as NAME-internal
	// holds them; declaredProblem says why one is not as declared.
	declared        []acl.DeclaredUser
	declaredProblem string
	// passwordSync says whether the source Secret matches the password in
	// force.
	passwordSync passwordSync
	// rotation is the rotation of the password NAME-internal records;
	// rotateTo a new password from the source Secret that rotatePassword
	// puts in force.
	rotation  specs.Rotation
	rotateTo  string
	instances []string
	pods      map[string]*corev1.Pod
	// leaving are pods of instances removed by a scale down.
	leaving []*corev1.Pod
	pvcs    map[string]*corev1.PersistentVolumeClaim
	// resizeErrors are the API server's refusals to grow a volume.
	resizeErrors map[string]string
	// sentinels are the pods of the sentinels in charge: rf's own, or a
	// SentinelPool's (pool); joining, during a move between the two, the
	// pods of the set that takes over.
	sentinels []corev1.Pod
	joining   []corev1.Pod
	// pool is the SentinelPool in charge (status.sentinelPool), nil with
	// dedicated sentinels; joinPool the pool rf moves to. poolAccess and
	// joinAccess reach their sentinels as the pool's admin user.
	pool, joinPool         *haredisv1.SentinelPool
	poolAccess, joinAccess sentinel.Access
	// sentinelCount is how many sentinels the set in charge has
	// configured, masterName the name it knows rf by.
	sentinelCount int
	masterName    string
	proxies       []corev1.Pod
	// readyProxies counts proxy pods that are ready (the Deployment's view).
	readyProxies int32
	view         sentinelView
	// sentinelErrors are the sentinels' refusals of this reconcile's
	// repairs (monitor, quorum, reset): they keep Ready False and say why.
	sentinelErrors []string
	// proxyMisroutes: ready proxies that route elsewhere than the primary
	// the sentinels name (proxyRoutes).
	proxyMisroutes []string
	statuses       map[string]*instanceapi.Status
	// moveRefused says why spec.redis.image cannot replace the servers the
	// instances run (checkImage), "" when it can or cannot be told.
	moveRefused string
	// statusBefore is the status as read, to tell whether it changed.
	statusBefore *haredisv1.RedisFailoverStatus
	// members are the instances as the rolling update's plan saw them, in
	// the order of instances.
	members []memberState
	// update is the rolling update's next step (planRollingUpdate).
	update updateStep
	// bootstrap and seedURL are the seed a new RedisFailover loads, while
	// it has not (resolveBootstrap).
	bootstrap *instanceconfig.Bootstrap
	seedURL   string
}

// Reconcile runs the chain of steps, each returning early.
func (r *RedisFailoverReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	logger := log.FromContext(ctx)
	rf := &haredisv1.RedisFailover{}
	if err := r.Get(ctx, req.NamespacedName, rf); err != nil {
		if apierrors.IsNotFound(err) {
			r.watchers.stop(req.NamespacedName)
			r.switchovers.stop(req.NamespacedName)
			forgetMetrics(req.Namespace, req.Name)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("cannot get RedisFailover: %w", err)
	}
	if !rf.DeletionTimestamp.IsZero() {
		r.watchers.stop(req.NamespacedName)
		r.switchovers.stop(req.NamespacedName)
		return r.finalize(ctx, rf)
	}
	st := &state{statusBefore: rf.Status.DeepCopy()}
	chain := []step{
		r.ensureFinalizer,
		r.recordIdentity,
		r.resolvePool,
		r.resolveBootstrap,
		r.reconcileTLS,
		r.reconcileSecrets,
		r.planInstances,
		r.reconcileConfigMap,
		r.reconcileServices,
		r.reconcileRBAC,
		r.reconcilePDBs,
		r.reconcileNetworkPolicies,
		r.reconcilePVCs,
		r.hibernate,
		r.reconcileInstancePods,
		r.reconcileSentinelPods,
		r.reconcileProxy,
		r.rotatePassword,
		r.liveImport,
		r.awaitSwitchover,
		r.followSentinels,
		r.tendSentinels,
		r.moveSentinels,
		r.readInstances,
		r.registerOnPool,
		r.teachPool,
		r.markReplicasInSync,
		r.followPrimary,
		r.checkImage,
		r.planRollingUpdate,
		r.scheduleBackups,
		r.reportStatus,
		r.forcePrimary,
		r.deliverSeed,
		r.applyConfig,
		r.switchover,
		r.scaleDown,
		r.rollingUpdate,
	}
	for _, s := range chain {
		res, err := s(ctx, rf, st)
		if apierrors.IsConflict(err) {
			logger.V(1).Info("conflict, requeueing", "error", err.Error())
			return ctrl.Result{RequeueAfter: 100 * time.Millisecond}, nil
		}
		if err != nil || !res.IsZero() {
			return res, err
		}
	}
	return ctrl.Result{RequeueAfter: ObservePeriod}, nil
}

func (r *RedisFailoverReconciler) ensureFinalizer(ctx context.Context, rf *haredisv1.RedisFailover, _ *state) (ctrl.Result, error) {
	if controllerutil.ContainsFinalizer(rf, haredisv1.Finalizer) {
		return ctrl.Result{}, nil
	}
	controllerutil.AddFinalizer(rf, haredisv1.Finalizer)
	if err := r.Update(ctx, rf); err != nil {
		return ctrl.Result{}, fmt.Errorf("cannot add the finalizer: %w", err)
	}
	log.FromContext(ctx).Info("added the finalizer", "finalizer", haredisv1.Finalizer)
	return ctrl.Result{}, nil
}

// recordIdentity writes status.masterName and the initial currentPrimary
// before any pod exists, so every pod and sentinel starts from the same
// recorded facts (safety rules 1 and 3).
func (r *RedisFailoverReconciler) recordIdentity(ctx context.Context, rf *haredisv1.RedisFailover, _ *state) (ctrl.Result, error) {
	if rf.Status.MasterName != "" && rf.Status.CurrentPrimary != "" {
		return ctrl.Result{}, nil
	}
	if rf.Status.MasterName == "" {
		rf.Status.MasterName = rf.MasterName()
	}
	if rf.Status.CurrentPrimary == "" {
		rf.Status.CurrentPrimary = rf.InstanceName(1)
		rf.Status.TargetPrimary = rf.Status.CurrentPrimary
		// Redis users only for a RedisFailover whose first pods haredis
		// creates now: pods of an earlier haredis (or a status lost while
		// they run) know only the password.
		running, err := r.podsRunning(ctx, rf)
		if err != nil {
			return ctrl.Result{}, err
		}
		rf.Status.ACLUsers = !running
	}
	rf.Status.Phase = haredisv1.PhaseCreating
	rf.Status.Endpoints = specs.Endpoints(rf)
	if err := r.Status().Update(ctx, rf); err != nil {
		return ctrl.Result{}, fmt.Errorf("cannot record the master name and initial primary: %w", err)
	}
	log.FromContext(ctx).Info("recorded identity", "masterName", rf.Status.MasterName, "initialPrimary", rf.Status.CurrentPrimary)
	return ctrl.Result{}, nil
}
