package specs

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	haredisv1 "github.com/haredis/haredis/api/v1"
)

// Services returns every Service of a RedisFailover. The REDIS_URL Service
// NAME selects the proxy when it is enabled, the primary otherwise.
func Services(rf *haredisv1.RedisFailover) []*corev1.Service {
	redis := Selector(rf, ComponentRedis)
	primary := withRole(redis, haredisv1.RolePrimary)
	replicas := withRole(redis, haredisv1.RoleReplica)
	front := primary
	if rf.ProxyEnabled() {
		front = Selector(rf, ComponentProxy)
	}

	headless := service(rf, rf.HeadlessServiceName(), ComponentRedis, redis, redisPort(), statusPort())
	headless.Spec.ClusterIP = corev1.ClusterIPNone
	// Peers and sentinels must resolve an instance before it is ready: a
	// replica only becomes ready once it reaches its primary by name.
	headless.Spec.PublishNotReadyAddresses = true

	sentinelHeadless := service(rf, SentinelHeadlessServiceName(rf), ComponentSentinel, Selector(rf, ComponentSentinel), sentinelPort())
	sentinelHeadless.Spec.ClusterIP = corev1.ClusterIPNone
	sentinelHeadless.Spec.PublishNotReadyAddresses = true

	return []*corev1.Service{
		service(rf, rf.ServiceName(), ComponentRedis, front, redisPort()),
		service(rf, rf.PrimaryServiceName(), ComponentRedis, primary, redisPort()),
		service(rf, rf.ReplicasServiceName(), ComponentRedis, replicas, redisPort()),
		headless,
		service(rf, rf.SentinelServiceName(), ComponentSentinel, Selector(rf, ComponentSentinel), sentinelPort()),
		sentinelHeadless,
	}
}

// InstanceHost is the stable DNS name of instance name.
func InstanceHost(rf *haredisv1.RedisFailover, name string) string {
	return fmt.Sprintf("%s.%s.%s.svc.cluster.local", name, rf.HeadlessServiceName(), rf.Namespace)
}

// SentinelHost is the stable DNS name of a dedicated sentinel.
func SentinelHost(rf *haredisv1.RedisFailover, name string) string {
	return fmt.Sprintf("%s.%s-headless.%s.svc.cluster.local", name, rf.SentinelServiceName(), rf.Namespace)
}

// ServiceHost is the cluster DNS name of a Service of the RedisFailover.
func ServiceHost(rf *haredisv1.RedisFailover, service string) string {
	return fmt.Sprintf("%s.%s.svc.cluster.local", service, rf.Namespace)
}

func withRole(sel map[string]string, role haredisv1.Role) map[string]string {
	out := map[string]string{haredisv1.LabelRole: string(role)}
	for k, v := range sel {
		out[k] = v
	}
	return out
}

func service(rf *haredisv1.RedisFailover, name, component string, selector map[string]string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: objectMeta(rf, name, component),
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: selector,
			Ports:    ports,
		},
	}
}

func redisPort() corev1.ServicePort {
	return corev1.ServicePort{Name: "redis", Port: RedisPort, TargetPort: intstr.FromString("redis"), Protocol: corev1.ProtocolTCP}
}

func statusPort() corev1.ServicePort {
	return corev1.ServicePort{Name: "http", Port: StatusPort, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP}
}

func sentinelPort() corev1.ServicePort {
	return corev1.ServicePort{Name: "sentinel", Port: SentinelPort, TargetPort: intstr.FromString("sentinel"), Protocol: corev1.ProtocolTCP}
}
