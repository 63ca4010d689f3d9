// Package controller holds the reconcilers of the haredis operator. The
// permissions the operator needs are declared here as kubebuilder RBAC
// markers; `make generate` turns them into config/rbac/role.yaml.
package controller

// +kubebuilder:rbac:groups=haredis.dev,resources=redisfailovers,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=haredis.dev,resources=redisfailovers/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=haredis.dev,resources=redisfailovers/finalizers,verbs=update
// +kubebuilder:rbac:groups=haredis.dev,resources=redisbackups,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=haredis.dev,resources=redisbackups/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=haredis.dev,resources=sentinelpools,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=haredis.dev,resources=sentinelpools/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=haredis.dev,resources=sentinelpools/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get
// +kubebuilder:rbac:groups="",resources=pods;services;configmaps;secrets;persistentvolumeclaims;serviceaccounts,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=roles;rolebindings,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch;delete
