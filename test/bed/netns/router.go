package netns

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
)

// Router is the namespace that plays the node hosts' network: it holds one
// bridge per node, forwards between them and runs kube-proxy's rules.
type Router struct {
	// Name of the router's network namespace.
	Name string
}

// NewRouter creates the router namespace with forwarding on and each
// address of addrs on its loopback (for servers the pods reach, such as the
// API server relay and cluster DNS).
func NewRouter(ctx context.Context, name string, addrs ...netip.Addr) (*Router, error) {
	if err := Add(ctx, name); err != nil {
		return nil, err
	}
	r := &Router{Name: name}
	sysctls := map[string]string{
		"net/ipv4/ip_forward":              "1",
		"net/ipv4/conf/all/route_localnet": "1",
	}
	err := Do(name, func() error {
		for key, value := range sysctls {
			// /proc/sys/net reflects the namespace of the thread that opens it.
			if err := os.WriteFile(filepath.Join("/proc/sys", key), []byte(value), 0o644); err != nil {
				return fmt.Errorf("cannot set %s: %w", key, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, a := range addrs {
		if err := ip(ctx, "-n", name, "addr", "add", a.String()+"/32", "dev", "lo"); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// AddBridge creates a bridge whose address is the first of prefix; pods of
// one node attach to it.
func (r *Router) AddBridge(ctx context.Context, bridge string, prefix netip.Prefix) error {
	if err := ip(ctx, "-n", r.Name, "link", "add", bridge, "type", "bridge"); err != nil {
		return err
	}
	gw := prefix.Masked().Addr().Next()
	if err := ip(ctx, "-n", r.Name, "addr", "add", netip.PrefixFrom(gw, prefix.Bits()).String(), "dev", bridge); err != nil {
		return err
	}
	return ip(ctx, "-n", r.Name, "link", "set", bridge, "up")
}

// SetBridge brings a node's bridge up or down: down cuts every pod of the
// node off at once, as when the node loses power.
func (r *Router) SetBridge(ctx context.Context, bridge string, up bool) error {
	return ip(ctx, "-n", r.Name, "link", "set", bridge, state(up))
}

// PodLink describes one pod's connection to its node's bridge.
type PodLink struct {
	// Netns is the pod's namespace; Veth the router side of its veth pair.
	Netns, Veth, Bridge string
	// Addr is the pod's address with the bridge's prefix length.
	Addr netip.Prefix
}

// AddPod creates the pod's namespace and wires its eth0 to the bridge with a
// default route through the bridge's address.
func (r *Router) AddPod(ctx context.Context, l PodLink) error {
	if err := Add(ctx, l.Netns); err != nil {
		return err
	}
	gw := l.Addr.Masked().Addr().Next()
	steps := [][]string{
		{"-n", r.Name, "link", "add", l.Veth, "type", "veth", "peer", "name", "eth0", "netns", l.Netns},
		{"-n", r.Name, "link", "set", l.Veth, "master", l.Bridge, "up"},
		// Hairpin: a pod that reaches its own Service comes back through
		// the port it left by (br_netfilter is on in new namespaces).
		{"-n", r.Name, "link", "set", l.Veth, "type", "bridge_slave", "hairpin", "on"},
		{"-n", l.Netns, "addr", "add", l.Addr.String(), "dev", "eth0"},
		{"-n", l.Netns, "link", "set", "eth0", "up"},
		{"-n", l.Netns, "route", "add", "default", "via", gw.String()},
	}
	for _, s := range steps {
		if err := ip(ctx, s...); err != nil {
			return err
		}
	}
	return nil
}

// RemovePod deletes the pod's namespace and its veth pair.
func (r *Router) RemovePod(ctx context.Context, l PodLink) error {
	return Delete(ctx, l.Netns)
}

// SetPodLink connects (up) or cuts off (down) one pod: its packets are
// dropped on the wire, so peers see timeouts, not refusals.
func (r *Router) SetPodLink(ctx context.Context, veth string, up bool) error {
	return ip(ctx, "-n", r.Name, "link", "set", veth, state(up))
}

// Delete removes the router namespace with its bridges and rules.
func (r *Router) Delete(ctx context.Context) error { return Delete(ctx, r.Name) }

func state(up bool) string {
	if up {
		return "up"
	}
	return "down"
}

// RouteToDummy routes prefix to an empty bridge (the kernel may lack the
// dummy driver), so that the router's own
// connections to it (Service ClusterIPs, rewritten by iptables after the
// route lookup) find a route at all.
func (r *Router) RouteToDummy(ctx context.Context, link string, prefix netip.Prefix) error {
	steps := [][]string{
		{"-n", r.Name, "link", "add", link, "type", "bridge"},
		{"-n", r.Name, "link", "set", link, "up"},
		{"-n", r.Name, "route", "add", prefix.String(), "dev", link},
	}
	for _, s := range steps {
		if err := ip(ctx, s...); err != nil {
			return err
		}
	}
	return nil
}
