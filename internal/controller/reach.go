package controller

import (
	"net"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/specs"
)

// Reach says how the operator reaches the instances and sentinels of a
// RedisFailover. In a cluster that is the pod IPs and the sentinels' stable
// names; tests point it at processes on loopback.
type Reach interface {
	// InstanceURL is the base URL of an instance manager's HTTP API; "" when
	// the pod cannot be reached yet (no IP).
	InstanceURL(rf *haredisv1.RedisFailover, pod *corev1.Pod) string
	// SentinelAddrs are host:port of the sentinels to ask.
	SentinelAddrs(rf *haredisv1.RedisFailover, pods []corev1.Pod) []string
	// InstanceAt maps an address a sentinel reports to an instance name;
	// "" when it is none of this RedisFailover's instances.
	InstanceAt(rf *haredisv1.RedisFailover, host string, port int) string
	// InstanceAddr is the host:port sentinels know an instance by.
	InstanceAddr(rf *haredisv1.RedisFailover, name string) (string, int)
	// RedisAddr is host:port the operator dials to talk Redis to an
	// instance (planned switchovers); "" when it has no IP yet.
	RedisAddr(rf *haredisv1.RedisFailover, pod *corev1.Pod) string
	// ProxyAdminURL is the base URL of a proxy pod's admin endpoint; ""
	// when it cannot be reached yet.
	ProxyAdminURL(rf *haredisv1.RedisFailover, pod *corev1.Pod) string
}

// PodReach reaches instances by pod IP and sentinels by pod IP, and maps
// the stable host names sentinels report (announce-hostnames) back to
// instances.
type PodReach struct{}

// InstanceURL implements Reach.
func (PodReach) InstanceURL(_ *haredisv1.RedisFailover, pod *corev1.Pod) string {
	if pod.Status.PodIP == "" {
		return ""
	}
	return "http://" + net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(specs.StatusPort))
}

// SentinelAddrs implements Reach: the pod IPs of the sentinels that have
// one, so the operator does not depend on cluster DNS from its own pod.
func (PodReach) SentinelAddrs(_ *haredisv1.RedisFailover, pods []corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		if p.Status.PodIP != "" && p.DeletionTimestamp == nil {
			out = append(out, net.JoinHostPort(p.Status.PodIP, strconv.Itoa(specs.SentinelPort)))
		}
	}
	return out
}

// InstanceAt implements Reach.
func (PodReach) InstanceAt(rf *haredisv1.RedisFailover, host string, port int) string {
	if port != specs.RedisPort {
		return ""
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	name, rest, ok := strings.Cut(host, ".")
	if !ok || rest != strings.TrimPrefix(specs.InstanceHost(rf, ""), ".") {
		return ""
	}
	return name
}

// InstanceAddr implements Reach.
func (PodReach) InstanceAddr(rf *haredisv1.RedisFailover, name string) (string, int) {
	return specs.InstanceHost(rf, name), specs.RedisPort
}

// RedisAddr implements Reach.
func (PodReach) RedisAddr(_ *haredisv1.RedisFailover, pod *corev1.Pod) string {
	if pod == nil || pod.Status.PodIP == "" {
		return ""
	}
	return net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(specs.RedisPort))
}

// ProxyAdminURL implements Reach.
func (PodReach) ProxyAdminURL(_ *haredisv1.RedisFailover, pod *corev1.Pod) string {
	if pod.Status.PodIP == "" {
		return ""
	}
	return "http://" + net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(specs.ProxyAdminPort))
}
