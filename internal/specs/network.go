package specs

import (
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"strings"

	haredisv1 "github.com/haredis/haredis/api/v1"
)

// Operator pods carry these labels (config/manager and the Helm chart).
const (
	OperatorNameLabel      = "haredis"
	OperatorComponentLabel = "operator"
)

// NetworkPolicyName is the NetworkPolicy of one component's pods.
func NetworkPolicyName(rf *haredisv1.RedisFailover, component string) string {
	return rf.Name + "-" + component
}

// NetworkPolicies admit, per component: the clients of
// spec.networkPolicy.clients (anyone when empty) to the ports clients use,
// the RedisFailover's own pods and the operator to every port, and
// spec.networkPolicy.metrics (anyone when empty) to the metrics ports.
// Nothing else reaches the instance managers' API. The sentinels and the
// proxies reach the instances, the instances their peers' managers, through
// the rule for the RedisFailover's own pods.
func NetworkPolicies(rf *haredisv1.RedisFailover, o Options) []*networkingv1.NetworkPolicy {
	np := rf.Spec.NetworkPolicy
	insiders := []networkingv1.NetworkPolicyPeer{ownPods(rf), operatorPods(o)}
	for i, key := range []string{rf.PoolKey(), rf.Status.SentinelPool} {
		if ns, name, ok := strings.Cut(key, "/"); ok && (i == 0 || key != rf.PoolKey()) {
			// A SentinelPool's sentinels, before, while and after a move.
			insiders = append(insiders, networkingv1.NetworkPolicyPeer{
				NamespaceSelector: metav1LabelSelector(map[string]string{corev1.LabelMetadataName: ns}),
				PodSelector:       metav1LabelSelector(map[string]string{haredisv1.LabelSentinelPool: name, LabelComponent: ComponentPoolSentinel}),
			})
		}
	}
	redis := policy(rf, ComponentRedis,
		rule(np.Clients, RedisPort),
		rule(insiders, RedisPort, StatusPort, InstanceMetricsPort),
		rule(np.Metrics, InstanceMetricsPort))
	sentinel := policy(rf, ComponentSentinel,
		rule(np.Clients, SentinelPort),
		rule(insiders, SentinelPort))
	out := []*networkingv1.NetworkPolicy{redis, sentinel}
	if rf.ProxyEnabled() {
		out = append(out, policy(rf, ComponentProxy,
			rule(np.Clients, RedisPort),
			rule(insiders, RedisPort, ProxyAdminPort),
			rule(np.Metrics, ProxyAdminPort)))
	}
	return out
}

func policy(rf *haredisv1.RedisFailover, component string, rules ...networkingv1.NetworkPolicyIngressRule) *networkingv1.NetworkPolicy {
	return &networkingv1.NetworkPolicy{
		ObjectMeta: objectMeta(rf, NetworkPolicyName(rf, component), component),
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: *metav1LabelSelector(Selector(rf, component)),
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress:     rules,
		},
	}
}

// rule admits from to ports; an empty from admits every source.
func rule(from []networkingv1.NetworkPolicyPeer, ports ...int32) networkingv1.NetworkPolicyIngressRule {
	r := networkingv1.NetworkPolicyIngressRule{From: from}
	for _, p := range ports {
		port := intstr.FromInt32(p)
		r.Ports = append(r.Ports, networkingv1.NetworkPolicyPort{Protocol: ptrProtocol(corev1.ProtocolTCP), Port: &port})
	}
	return r
}

func ptrProtocol(p corev1.Protocol) *corev1.Protocol { return &p }

// ownPods are every pod of the RedisFailover (instances, sentinels, proxies).
func ownPods(rf *haredisv1.RedisFailover) networkingv1.NetworkPolicyPeer {
	return networkingv1.NetworkPolicyPeer{PodSelector: metav1LabelSelector(map[string]string{
		LabelName: "haredis", LabelInstance: rf.Name, LabelManagedBy: ManagedBy})}
}

// operatorPods are the operator's pods, in its namespace when known (any
// namespace otherwise).
func operatorPods(o Options) networkingv1.NetworkPolicyPeer {
	ns := &metav1.LabelSelector{}
	if o.OperatorNamespace != "" {
		ns = metav1LabelSelector(map[string]string{corev1.LabelMetadataName: o.OperatorNamespace})
	}
	return networkingv1.NetworkPolicyPeer{
		NamespaceSelector: ns,
		PodSelector:       metav1LabelSelector(map[string]string{LabelName: OperatorNameLabel, LabelComponent: OperatorComponentLabel}),
	}
}
