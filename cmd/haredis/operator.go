package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/controller"
	"github.com/haredis/haredis/internal/specs"
)

func newOperatorCommand() *cobra.Command {
	var (
		metricsAddr, probeAddr, image, pullPolicy, namespace, operatorNamespace string
		metricsSecure                                                           bool
		leaderElect, development                                                bool
	)
	cmd := &cobra.Command{
		Use:   "operator",
		Short: "Reconcile RedisFailovers into Redis instances, sentinels and Services",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctrl.SetLogger(zap.New(zap.UseDevMode(development)))
			scheme := runtime.NewScheme()
			if err := clientgoscheme.AddToScheme(scheme); err != nil {
				return fmt.Errorf("cannot build the scheme: %w", err)
			}
			if err := haredisv1.AddToScheme(scheme); err != nil {
				return fmt.Errorf("cannot build the scheme: %w", err)
			}
			cfg, err := ctrl.GetConfig()
			if err != nil {
				return fmt.Errorf("cannot find the cluster: %w", err)
			}
			mgr, err := controller.NewManager(cfg, controller.ManagerOptions{
				Scheme: scheme, Metrics: metricsOptions(metricsAddr, metricsSecure),
				HealthProbeBindAddress: probeAddr, LeaderElection: leaderElect, Namespaces: splitList(namespace),
				Specs: specs.Options{OperatorImage: image, ImagePullPolicy: pullPolicy, OperatorNamespace: operatorNamespace},
			})
			if err != nil {
				return err
			}
			if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
				return fmt.Errorf("cannot add the health check: %w", err)
			}
			if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
				return fmt.Errorf("cannot add the readiness check: %w", err)
			}
			return mgr.Start(ctrl.SetupSignalHandler())
		},
	}
	f := cmd.Flags()
	f.StringVar(&metricsAddr, "metrics-bind-address", envOr("HAREDIS_METRICS_ADDR", ":8080"), "address of the metrics endpoint (0 disables it)")
	f.BoolVar(&metricsSecure, "metrics-secure", envOr("HAREDIS_METRICS_SECURE", "true") == "true", "serve the metrics over HTTPS to clients whose bearer token may get the non-resource URL /metrics (a TokenReview and a SubjectAccessReview per scrape); false serves plain HTTP to anyone (env HAREDIS_METRICS_SECURE)")
	f.StringVar(&probeAddr, "health-probe-bind-address", envOr("HAREDIS_PROBE_ADDR", ":8081"), "address of /healthz and /readyz")
	f.BoolVar(&leaderElect, "leader-elect", envOr("HAREDIS_LEADER_ELECT", "false") == "true", "elect a leader so that only one replica of the operator acts")
	f.StringVar(&image, "image", envOr("HAREDIS_OPERATOR_IMAGE", "haredis/haredis:dev"), "image holding the haredis binary at "+specs.BinaryPath+" (copied into Redis pods)")
	f.StringVar(&pullPolicy, "image-pull-policy", envOr("HAREDIS_IMAGE_PULL_POLICY", "IfNotPresent"), "pull policy of that image in init containers")
	f.StringVar(&operatorNamespace, "operator-namespace", envOr("HAREDIS_OPERATOR_NAMESPACE", ""), "the namespace the operator runs in, which the RedisFailovers' NetworkPolicies admit (pods labelled "+specs.LabelName+"="+specs.OperatorNameLabel+", "+specs.LabelComponent+"="+specs.OperatorComponentLabel+"); any namespace when empty")
	f.StringVar(&namespace, "namespace", envOr("HAREDIS_WATCH_NAMESPACE", ""), "watch only these namespaces, comma-separated (all when empty)")
	f.BoolVar(&development, "development", false, "human-readable logs")
	return cmd
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// metricsOptions serves the operator's metrics on addr: over HTTPS with a
// self-signed certificate, to callers the API server authenticates and
// allows to get /metrics, when secure; plain HTTP to anyone otherwise.
func metricsOptions(addr string, secure bool) metricsserver.Options {
	o := metricsserver.Options{BindAddress: addr}
	if secure {
		o.SecureServing = true
		o.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	return o
}
