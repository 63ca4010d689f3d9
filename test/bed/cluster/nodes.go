package cluster

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	vklog "github.com/virtual-kubelet/virtual-kubelet/log"
	"github.com/virtual-kubelet/virtual-kubelet/node/nodeutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/haredis/haredis/test/bed/node"
	"github.com/haredis/haredis/test/controlplane"
)

// Node is one virtual kubelet of the bed.
type Node struct {
	// Name of the Node object; Zone its topology.kubernetes.io/zone.
	Name, Zone string
	index      int
	c          *Cluster

	mu       sync.Mutex
	provider *node.Provider
	cancel   context.CancelFunc
	done     chan struct{}
}

func zoneName(i int) string { return "zone-" + string(rune('a'+(i-1)%26)) }

func (c *Cluster) startNodes(ctx context.Context) error {
	images, err := node.NewImages(c.opts.ProjectImage, c.opts.HaredisBinary, c.opts.ValkeyDir)
	if err != nil {
		return err
	}
	c.Images = images
	for i := 1; i <= c.opts.Nodes; i++ {
		n := &Node{Name: fmt.Sprintf("bed-%d", i), Zone: zoneName(i), index: i, c: c}
		c.nodes = append(c.nodes, n)
		if err := n.start(ctx); err != nil {
			return err
		}
	}
	return c.waitNodesReady(ctx)
}

func (c *Cluster) waitNodesReady(ctx context.Context) error {
	for _, n := range c.nodes {
		if err := n.WaitReady(ctx, true, 60*time.Second); err != nil {
			return err
		}
	}
	return nil
}

func (n *Node) start(ctx context.Context) error {
	c := n.c
	port, err := controlplane.FreePort()
	if err != nil {
		return err
	}
	p := node.New(node.Config{
		Name: n.Name, Zone: n.Zone, Index: n.index,
		Router: c.router, Bridge: bridgeName(n.index), PodCIDR: nodeCIDR(n.index),
		NetnsPrefix: c.rec.NetnsPrefix, StateDir: filepath.Join(c.Dir, "nodes", n.Name),
		Client: c.Client, Images: c.Images,
		DNS: DNSServiceIP, ClusterDomain: ClusterDomain,
		APIHost: "10.96.0.1", APIPort: 443,
		KubeletPort: port, KubeletVersion: "v1.37.2",
		VolumeSyncPeriod: c.opts.VolumeSyncPeriod,
		Log:              c.log.WithValues("node", n.Name),
	})
	tlsConfig, err := selfSignedTLS(n.Name)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	vk, err := nodeutil.NewNode(n.Name, p.NewProviderFunc,
		nodeutil.WithClient(c.Client),
		func(cfg *nodeutil.NodeConfig) error {
			cfg.HTTPListenAddr = fmt.Sprintf("127.0.0.1:%d", port)
			cfg.TLSConfig = tlsConfig
			cfg.Handler = mux
			cfg.SkipDownwardAPIResolution = true
			cfg.NumWorkers = 4
			cfg.InformerResyncPeriod = 30 * time.Second
			return nil
		},
		nodeutil.AttachProviderRoutes(mux),
	)
	if err != nil {
		return fmt.Errorf("cannot create node %s: %w", n.Name, err)
	}
	runCtx, cancel := context.WithCancel(vklog.WithLogger(context.Background(), vklog.L))
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := vk.Run(runCtx); err != nil && runCtx.Err() == nil {
			c.log.Error(err, "node stopped", "node", n.Name)
		}
	}()
	n.mu.Lock()
	n.provider, n.cancel, n.done = p, cancel, done
	n.mu.Unlock()
	if err := vk.WaitReady(ctx, 60*time.Second); err != nil {
		return fmt.Errorf("node %s did not start: %w", n.Name, err)
	}
	return nil
}

// stop ends the kubelet and kills the node's pods, as a power cut does.
func (n *Node) stop() {
	n.mu.Lock()
	p, cancel, done := n.provider, n.cancel, n.done
	n.provider, n.cancel = nil, nil
	n.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
	p.Shutdown()
}

// Stop powers the node off: its kubelet stops reporting (the node turns
// NotReady after the controller manager's grace period), its pods' processes
// are killed and their network goes away.
func (n *Node) Stop(ctx context.Context) error {
	n.stop()
	return n.c.router.SetBridge(ctx, bridgeName(n.index), false)
}

// Start powers a stopped node on again: the kubelet reports Ready and starts
// the pods still bound to it afresh.
func (n *Node) Start(ctx context.Context) error {
	if err := n.c.router.SetBridge(ctx, bridgeName(n.index), true); err != nil {
		return err
	}
	if err := n.start(ctx); err != nil {
		return err
	}
	return n.WaitReady(ctx, true, 60*time.Second)
}

// WaitReady waits until the Node object's Ready condition is (or is no
// longer, with ready false) True.
func (n *Node) WaitReady(ctx context.Context, ready bool, timeout time.Duration) error {
	err := WaitFor(ctx, timeout, func(ctx context.Context) (bool, error) {
		obj, err := n.c.Client.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, cond := range obj.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				return (cond.Status == corev1.ConditionTrue) == ready, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("node %s did not become ready=%v: %w", n.Name, ready, err)
	}
	return nil
}

// Nodes returns the bed's nodes in order.
func (c *Cluster) Nodes() []*Node { return append([]*Node(nil), c.nodes...) }

// Node returns the node with the given name.
func (c *Cluster) Node(name string) (*Node, error) {
	for _, n := range c.nodes {
		if n.Name == name {
			return n, nil
		}
	}
	return nil, fmt.Errorf("the bed has no node %s", name)
}

// Pod returns a handle on a running pod: its address, processes and link.
func (c *Cluster) Pod(ctx context.Context, namespace, name string) (*node.PodHandle, error) {
	pod, err := c.Client.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("cannot read pod %s/%s: %w", namespace, name, err)
	}
	n, err := c.Node(pod.Spec.NodeName)
	if err != nil {
		return nil, fmt.Errorf("pod %s/%s is not scheduled on a bed node: %w", namespace, name, err)
	}
	n.mu.Lock()
	p := n.provider
	n.mu.Unlock()
	if p == nil {
		return nil, fmt.Errorf("node %s is stopped", n.Name)
	}
	return p.Pod(namespace, name)
}

// selfSignedTLS is the kubelet's serving certificate: the API server does
// not verify kubelets in the bed (no --kubelet-certificate-authority).
func selfSignedTLS(name string) (*tls.Config, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("cannot generate kubelet key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{strings.ToLower(name)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("cannot sign kubelet certificate: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}, nil
}
