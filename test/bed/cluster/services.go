package cluster

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/haredis/haredis/test/bed/netns"
	"github.com/haredis/haredis/test/controlplane"
)

// startInRouter starts a component inside the router namespace; it dies
// with this process.
func (c *Cluster) startInRouter(name, path string, args ...string) (*controlplane.Process, error) {
	nsArgs := append([]string{"--net=" + netns.Path(c.router.Name), "--", path}, args...)
	p, err := controlplane.StartProcess(c.Dir, name, "nsenter", nsArgs...)
	if err != nil {
		return nil, err
	}
	c.procs = append(c.procs, p)
	return p, nil
}

const kubeProxyConfig = `apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: %s
mode: iptables
clusterCIDR: %s
hostnameOverride: %s
bindAddress: 127.0.0.1
# Inside the router namespace: the usual ports cannot clash.
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
iptables:
  # Service traffic is masqueraded so that replies from a pod on the same
  # bridge come back through the router (no br_netfilter needed).
  masqueradeAll: true
  syncPeriod: 10s
  minSyncPeriod: 0s
conntrack:
  # The router is not the initial namespace: leave the global conntrack
  # settings alone.
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
`

func (c *Cluster) startKubeProxy(ctx context.Context) error {
	kubeconfig, err := c.ControlPlane.WriteKubeconfig("kube-proxy", "system:kube-proxy", "system:node-proxier")
	if err != nil {
		return err
	}
	cfgPath := filepath.Join(c.Dir, "kube-proxy.yaml")
	cfg := fmt.Sprintf(kubeProxyConfig, kubeconfig, PodCIDR, c.nodes[0].Name)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return fmt.Errorf("cannot write kube-proxy configuration: %w", err)
	}
	kubeBin, _, err := controlplane.DefaultBinaries()
	if err != nil {
		return err
	}
	p, err := c.startInRouter("kube-proxy", filepath.Join(kubeBin, "kube-proxy"), "--config="+cfgPath, "--v=1")
	if err != nil {
		return err
	}
	// kube-proxy is ready once it has programmed the `kubernetes` Service.
	err = WaitFor(ctx, 60*time.Second, func(ctx context.Context) (bool, error) {
		if done, err := p.Exited(); done {
			return false, fmt.Errorf("kube-proxy exited: %v: %s", err, p.Tail(2000))
		}
		conn, err := netns.DialContext(ctx, c.router.Name, "tcp", "10.96.0.1:443")
		if err != nil {
			return false, nil
		}
		conn.Close()
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("kube-proxy did not program the kubernetes Service: %w; its log ends with: %s", err, p.Tail(3000))
	}
	return nil
}

const corefile = `.:53 {
    bind %s
    errors
    health 127.0.0.1:%d
    kubernetes %s in-addr.arpa ip6.arpa {
        kubeconfig %s haredis-test
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }
    loadbalance
}
`

func (c *Cluster) startDNS(ctx context.Context) error {
	kubeconfig, err := c.ControlPlane.WriteKubeconfig("coredns", "system:coredns", "system:masters")
	if err != nil {
		return err
	}
	healthPort, err := controlplane.FreePort()
	if err != nil {
		return err
	}
	path := filepath.Join(c.Dir, "Corefile")
	if err := os.WriteFile(path, []byte(fmt.Sprintf(corefile, RouterAddr, healthPort, ClusterDomain, kubeconfig)), 0o644); err != nil {
		return fmt.Errorf("cannot write Corefile: %w", err)
	}
	p, err := c.startInRouter("coredns", c.opts.CoreDNSPath, "-conf", path)
	if err != nil {
		return err
	}
	if err := c.dnsService(ctx); err != nil {
		return err
	}
	return WaitFor(ctx, 60*time.Second, func(ctx context.Context) (bool, error) {
		if done, err := p.Exited(); done {
			return false, fmt.Errorf("coredns exited: %v: %s", err, p.Tail(2000))
		}
		lctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		addrs, err := c.Resolver().LookupHost(lctx, "kubernetes.default.svc."+ClusterDomain)
		return err == nil && len(addrs) > 0, nil
	})
}

// dnsService publishes CoreDNS, which runs on the router, as the ClusterIP
// Service kube-system/kube-dns, so pods use the usual address.
func (c *Cluster) dnsService(ctx context.Context) error {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-dns", Namespace: "kube-system", Labels: map[string]string{"k8s-app": "kube-dns"}},
		Spec: corev1.ServiceSpec{
			ClusterIP: DNSServiceIP.String(),
			Ports: []corev1.ServicePort{
				{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromInt32(53)},
				{Name: "dns-tcp", Port: 53, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(53)},
			},
		},
	}
	if _, err := c.Client.CoreV1().Services("kube-system").Create(ctx, svc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("cannot create kube-dns Service: %w", err)
	}
	ready, udp, tcp := true, corev1.ProtocolUDP, corev1.ProtocolTCP
	dns, dnsTCP, port := "dns", "dns-tcp", int32(53)
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-dns-bed", Namespace: "kube-system", Labels: map[string]string{
			discoveryv1.LabelServiceName: "kube-dns",
			discoveryv1.LabelManagedBy:   "haredis-bed",
		}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{RouterAddr.String()}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
		Ports:       []discoveryv1.EndpointPort{{Name: &dns, Protocol: &udp, Port: &port}, {Name: &dnsTCP, Protocol: &tcp, Port: &port}},
	}
	if _, err := c.Client.DiscoveryV1().EndpointSlices("kube-system").Create(ctx, slice, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("cannot create kube-dns endpoints: %w", err)
	}
	return nil
}

// Resolver asks the bed's CoreDNS, from inside the bed's network, so test
// code can resolve Service and pod names as pods do. Names must be fully
// qualified (NAME.NAMESPACE.svc.cluster.local).
func (c *Cluster) Resolver() *net.Resolver {
	router := c.router.Name
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return netns.DialContext(ctx, router, network, net.JoinHostPort(RouterAddr.String(), "53"))
	}}
}

// Dial connects to addr (a pod IP, a ClusterIP, or a name CoreDNS resolves)
// from the router, which sees the bed's network as a node does.
func (c *Cluster) Dial(ctx context.Context, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if net.ParseIP(host) == nil {
		ips, err := c.Resolver().LookupHost(ctx, host)
		if err != nil {
			return nil, fmt.Errorf("cannot resolve %s: %w", host, err)
		}
		host = ips[0]
	}
	return netns.DialContext(ctx, c.router.Name, "tcp", net.JoinHostPort(host, port))
}

// Forward listens on 127.0.0.1 of the host (port 0 picks a free one) and
// relays each connection to target inside the bed (for example
// "redis.default.svc.cluster.local:6379"); it returns the local address.
// The forward lives until the bed stops.
func (c *Cluster) Forward(ctx context.Context, localPort int, target string) (string, error) {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(localPort)))
	if err != nil {
		return "", fmt.Errorf("cannot listen on 127.0.0.1:%d: %w", localPort, err)
	}
	r := startRelay(l, func(ctx context.Context) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return c.Dial(ctx, target)
	})
	c.mu.Lock()
	c.relays = append(c.relays, r)
	c.mu.Unlock()
	return l.Addr().String(), nil
}

// Publish makes a server on the host's loopback (hostAddr, such as the
// S3-compatible store of the tests) reachable from pods as the Service
// NAME.NAMESPACE on port, as an external service behind a selector-less
// Service would be in a real cluster. It returns the Service's DNS name
// with the port. The namespace must exist; the publication lives until
// the bed stops.
func (c *Cluster) Publish(ctx context.Context, namespace, name string, port int32, hostAddr string) (string, error) {
	l, err := netns.Listen(c.router.Name, "tcp", net.JoinHostPort(RouterAddr.String(), "0"))
	if err != nil {
		return "", fmt.Errorf("cannot listen in the router namespace: %w", err)
	}
	r := startRelay(l, func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", hostAddr)
	})
	c.mu.Lock()
	c.relays = append(c.relays, r)
	c.mu.Unlock()
	relayPort := int32(l.Addr().(*net.TCPAddr).Port)
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{
			{Name: "tcp", Port: port, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(relayPort)},
		}},
	}
	if _, err := c.Client.CoreV1().Services(namespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		return "", fmt.Errorf("cannot create Service %s/%s: %w", namespace, name, err)
	}
	ready, tcp, portName := true, corev1.ProtocolTCP, "tcp"
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: name + "-bed", Namespace: namespace, Labels: map[string]string{
			discoveryv1.LabelServiceName: name,
			discoveryv1.LabelManagedBy:   "haredis-bed",
		}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{RouterAddr.String()}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
		Ports:       []discoveryv1.EndpointPort{{Name: &portName, Protocol: &tcp, Port: &relayPort}},
	}
	if _, err := c.Client.DiscoveryV1().EndpointSlices(namespace).Create(ctx, slice, metav1.CreateOptions{}); err != nil {
		return "", fmt.Errorf("cannot create the endpoints of Service %s/%s: %w", namespace, name, err)
	}
	return net.JoinHostPort(fmt.Sprintf("%s.%s.svc.%s", name, namespace, ClusterDomain), strconv.Itoa(int(port))), nil
}
