package controller

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	crcontroller "sigs.k8s.io/controller-runtime/pkg/controller"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/haredis/haredis/internal/specs"
)

// ManagerOptions configure NewManager.
type ManagerOptions struct {
	Scheme                 *runtime.Scheme
	Metrics                metricsserver.Options
	HealthProbeBindAddress string
	LeaderElection         bool
	// LeaderElectionNamespace holds the lease; the operator's own namespace
	// when empty (in a pod).
	LeaderElectionNamespace string
	// Namespaces restrict the operator to these namespaces; all when empty.
	Namespaces []string
	Specs      specs.Options
	// Reach overrides how instances and sentinels are reached (tests).
	Reach Reach
	// SeveralInProcess allows more than one manager in a process (tests);
	// controller-runtime otherwise refuses a second controller of one name.
	SeveralInProcess bool
}

// NewManager builds a controller-runtime manager running the RedisFailover
// reconciler.
func NewManager(cfg *rest.Config, o ManagerOptions) (ctrl.Manager, error) {
	opts := ctrl.Options{
		Scheme:                  o.Scheme,
		Metrics:                 o.Metrics,
		HealthProbeBindAddress:  o.HealthProbeBindAddress,
		LeaderElection:          o.LeaderElection,
		LeaderElectionID:        "haredis-operator.haredis.dev",
		LeaderElectionNamespace: o.LeaderElectionNamespace,
	}
	if o.SeveralInProcess {
		opts.Controller = config.Controller{SkipNameValidation: ptr.To(true)}
	}
	opts.Cache = OwnedObjectsCache()
	if len(o.Namespaces) > 0 {
		ns := map[string]cache.Config{}
		for _, n := range o.Namespaces {
			ns[n] = cache.Config{}
		}
		opts.Cache.DefaultNamespaces = ns
	}
	mgr, err := ctrl.NewManager(cfg, opts)
	if err != nil {
		return nil, fmt.Errorf("cannot create the manager: %w", err)
	}
	r := &RedisFailoverReconciler{
		Client:    mgr.GetClient(),
		Scheme:    mgr.GetScheme(),
		Recorder:  mgr.GetEventRecorder("haredis-operator"),
		Options:   o.Specs,
		Reach:     o.Reach,
		APIReader: mgr.GetAPIReader(),
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("cannot set up the RedisFailover controller: %w", err)
	}
	p := &SentinelPoolReconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Recorder:  mgr.GetEventRecorder("haredis-operator"),
		Options:   o.Specs,
		Reach:     o.Reach,
	}
	if err := p.SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("cannot set up the SentinelPool controller: %w", err)
	}
	b := &RedisBackupReconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Recorder:  mgr.GetEventRecorder("haredis-operator"),
		Reach:     o.Reach,
	}
	if err := b.SetupWithManager(mgr, crcontroller.Options{MaxConcurrentReconciles: 4}); err != nil {
		return nil, fmt.Errorf("cannot set up the RedisBackup controller: %w", err)
	}
	return mgr, nil
}

// OwnedObjectsCache restricts the operator's informers to the objects
// haredis labels as its own (app.kubernetes.io/managed-by=haredis): in a big
// cluster the operator does not hold every Pod, Secret and ConfigMap in
// memory. RedisFailovers are cached whole. What haredis reads that it did
// not create goes through the reconciler's APIReader.
func OwnedObjectsCache() cache.Options {
	owned := cache.ByObject{Label: labels.SelectorFromSet(labels.Set{specs.LabelManagedBy: specs.ManagedBy})}
	by := map[client.Object]cache.ByObject{}
	for _, obj := range []client.Object{
		&corev1.Pod{}, &corev1.Service{}, &corev1.ConfigMap{}, &corev1.Secret{}, &corev1.PersistentVolumeClaim{},
		&corev1.ServiceAccount{}, &policyv1.PodDisruptionBudget{}, &networkingv1.NetworkPolicy{}, &rbacv1.Role{}, &rbacv1.RoleBinding{}, &appsv1.Deployment{},
	} {
		by[obj] = owned
	}
	return cache.Options{ByObject: by}
}
