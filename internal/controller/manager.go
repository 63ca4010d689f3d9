package controller

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
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
	// Namespace restricts the operator to one namespace; all when empty.
	Namespace string
	Specs     specs.Options
	// Reach overrides how instances and sentinels are reached (tests).
	Reach Reach
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
	if o.Namespace != "" {
		opts.Cache = cache.Options{DefaultNamespaces: map[string]cache.Config{o.Namespace: {}}}
	}
	mgr, err := ctrl.NewManager(cfg, opts)
	if err != nil {
		return nil, fmt.Errorf("cannot create the manager: %w", err)
	}
	r := &RedisFailoverReconciler{
		Client:   mgr.GetClient(),
		Scheme:   mgr.GetScheme(),
		Recorder: mgr.GetEventRecorder("haredis-operator"),
		Options:  o.Specs,
		Reach:    o.Reach,
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("cannot set up the RedisFailover controller: %w", err)
	}
	return mgr, nil
}
