package specs

import (
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	haredisv1 "github.com/haredis/haredis/api/v1"
)

// PodDisruptionBudgets: at most one Redis instance down at a time (a drain
// never takes the primary and a replica together), and never fewer
// sentinels than the quorum.
func PodDisruptionBudgets(rf *haredisv1.RedisFailover) []*policyv1.PodDisruptionBudget {
	redis := &policyv1.PodDisruptionBudget{
		ObjectMeta: objectMeta(rf, RedisPDBName(rf), ComponentRedis),
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable: ptrIntOrString(intstr.FromInt32(1)),
			Selector:       metav1LabelSelector(Selector(rf, ComponentRedis)),
		},
	}
	sentinel := &policyv1.PodDisruptionBudget{
		ObjectMeta: objectMeta(rf, SentinelPDBName(rf), ComponentSentinel),
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: ptrIntOrString(intstr.FromInt32(SentinelQuorum(rf))),
			Selector:     metav1LabelSelector(Selector(rf, ComponentSentinel)),
		},
	}
	return []*policyv1.PodDisruptionBudget{redis, sentinel}
}

func ptrIntOrString(v intstr.IntOrString) *intstr.IntOrString { return &v }

// ServiceAccount runs the Redis and sentinel pods.
func ServiceAccount(rf *haredisv1.RedisFailover) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{ObjectMeta: objectMeta(rf, ServiceAccountName(rf), ComponentRedis)}
}

// Role lets the pods read their own configuration and nothing else: the
// instance manager and sentinels work from mounted files today, and a
// token that can do more would only widen what a compromised pod can do.
func Role(rf *haredisv1.RedisFailover) *rbacv1.Role {
	secret := InternalSecretName(rf)
	return &rbacv1.Role{
		ObjectMeta: objectMeta(rf, ServiceAccountName(rf), ComponentRedis),
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{InstanceConfigMapName(rf)}, Verbs: []string{"get", "watch"}},
			{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{secret}, Verbs: []string{"get", "watch"}},
		},
	}
}

// RoleBinding binds Role to ServiceAccount.
func RoleBinding(rf *haredisv1.RedisFailover) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{
		ObjectMeta: objectMeta(rf, ServiceAccountName(rf), ComponentRedis),
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: ServiceAccountName(rf)},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: ServiceAccountName(rf), Namespace: rf.Namespace}},
	}
}
