package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/haredis/haredis/test/bed/netns"
	"github.com/haredis/haredis/test/bed/node"
	"github.com/haredis/haredis/test/bed/storage"
	"github.com/haredis/haredis/test/controlplane"
)

// Addresses of the bed. They exist only inside the bed's own namespaces.
var (
	// PodCIDR is split into one /24 per node: node N gets 10.244.N.0/24.
	PodCIDR = netip.MustParsePrefix("10.244.0.0/16")
	// ServiceCIDR holds ClusterIPs; the `kubernetes` Service is its first address.
	ServiceCIDR = netip.MustParsePrefix("10.96.0.0/16")
	// RouterAddr answers on the router: the API server relay and CoreDNS.
	RouterAddr = netip.MustParseAddr("10.244.0.1")
	// DNSServiceIP is the ClusterIP of kube-system/kube-dns.
	DNSServiceIP = netip.MustParseAddr("10.96.0.10")
)

// ClusterDomain is the DNS suffix of Services.
const ClusterDomain = "cluster.local"

// DefaultProjectImage names the image that runs bin/haredis.
const DefaultProjectImage = "haredis/haredis"

// Options configure a bed. The zero value gives three nodes in zones
// zone-a, zone-b, zone-c and a new state directory.
type Options struct {
	// Nodes is the number of nodes; 3 when zero.
	Nodes int
	// Dir keeps all state of the bed; a new directory under /tmp when empty.
	// It is removed by Stop.
	Dir string
	// ProjectImage (any tag) runs HaredisBinary at /usr/local/bin/haredis;
	// DefaultProjectImage and bin/haredis of the repository when empty.
	ProjectImage  string
	HaredisBinary string
	// CoreDNSPath is the coredns binary; bin/coredns-VERSION/coredns when empty.
	CoreDNSPath string
	// ValkeyDir holds Valkey unpacked from its Debian packages (usr/bin);
	// $HAREDIS_VALKEY_DIR, else bin/valkey-VERSION when empty. Valkey images
	// fail like a pull when it is missing.
	ValkeyDir string
	// CRDPaths are installed once the API server is up.
	CRDPaths []string
	// VolumeSyncPeriod paces the refresh of configMap, secret and projected
	// volumes in running pods (a random wait between it and twice it);
	// node.DefaultVolumeSyncPeriod (10 s) when zero. A kubelet takes 60 to
	// 90 s.
	VolumeSyncPeriod time.Duration
	// Log receives the bed's structured logs; discarded when zero.
	Log logr.Logger
}

// Cluster is a running bed.
type Cluster struct {
	// ID is unique per bed; it prefixes the bed's network namespaces.
	ID string
	// Dir keeps the bed's state: control plane, pods, volumes, logs.
	Dir string
	// KubeconfigPath is an admin kubeconfig for the host (kubectl, tests).
	KubeconfigPath string
	// Config and Client are admin clients for the host.
	Config *rest.Config
	Client kubernetes.Interface
	// ControlPlane gives access to certificates and component processes.
	ControlPlane *controlplane.ControlPlane
	// Images maps image references to host programs; Add more before use.
	Images *node.Images

	opts     Options
	rec      record
	mu       sync.Mutex // guards relays
	router   *netns.Router
	log      logr.Logger
	relays   []*relay
	procs    []*controlplane.Process
	nodes    []*Node
	storage  *storage.Provisioner
	stopBack context.CancelFunc
}

// Start brings up a bed and waits until its nodes are Ready and DNS
// answers. On error it removes whatever it made.
func Start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("the test bed needs root for network and mount namespaces")
	}
	if _, err := CleanupStale(ctx); err != nil {
		return nil, fmt.Errorf("cannot clean up a crashed bed: %w", err)
	}
	if err := opts.complete(); err != nil {
		return nil, err
	}
	id := opts.id()
	c := &Cluster{ID: id, Dir: opts.Dir, opts: opts, log: opts.Log}
	c.rec = record{ID: id, PID: os.Getpid(), Dir: opts.Dir, NetnsPrefix: "hb" + id + "-"}
	if err := c.rec.write(); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, c.Stop())
		}
	}()
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"network", c.startNetwork},
		{"control plane", c.startControlPlane},
		{"API relay", c.startAPIRelay},
		{"cluster DNS", c.startDNS},
		{"storage", c.startStorage},
		{"nodes", c.startNodes},
		// kube-proxy waits for its Node object: it runs as node bed-1's.
		{"kube-proxy", c.startKubeProxy},
		// Pods are refused until the controller-manager has made the
		// namespace's default ServiceAccount.
		{"service accounts", c.waitDefaultServiceAccount},
	}
	for _, s := range steps {
		began := time.Now()
		if err := s.fn(ctx); err != nil {
			return nil, fmt.Errorf("cannot start the bed's %s: %w", s.name, err)
		}
		c.log.Info("bed part started", "part", s.name, "seconds", time.Since(began).Seconds())
	}
	return c, nil
}

func (c *Cluster) waitDefaultServiceAccount(ctx context.Context) error {
	return WaitFor(ctx, time.Minute, func(ctx context.Context) (bool, error) {
		_, err := c.Client.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	})
}

func (o *Options) complete() error {
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	if o.Nodes > 200 {
		return fmt.Errorf("a bed has at most 200 nodes")
	}
	if o.Log.GetSink() == nil {
		o.Log = logr.Discard()
	}
	root, rootErr := controlplane.RepoRoot()
	if o.ProjectImage == "" {
		o.ProjectImage = DefaultProjectImage
	}
	if o.HaredisBinary == "" && rootErr == nil {
		o.HaredisBinary = filepath.Join(root, "bin", "haredis")
	}
	if o.CoreDNSPath == "" {
		if p := os.Getenv("HAREDIS_COREDNS"); p != "" {
			o.CoreDNSPath = p
		} else if rootErr == nil {
			o.CoreDNSPath = filepath.Join(root, "bin", "coredns-"+CoreDNSVersion, "coredns")
		}
	}
	if o.ValkeyDir == "" {
		o.ValkeyDir, _ = DefaultValkeyDir()
	}
	if _, err := os.Stat(o.CoreDNSPath); err != nil {
		return fmt.Errorf("CoreDNS binary %s is missing: run `make setup`: %w", o.CoreDNSPath, err)
	}
	if o.Dir == "" {
		dir, err := os.MkdirTemp("", "haredis-bed-")
		if err != nil {
			return fmt.Errorf("cannot create bed directory: %w", err)
		}
		o.Dir = dir
	}
	return os.MkdirAll(o.Dir, 0o755)
}

// CoreDNSVersion is the CoreDNS `make setup` builds (see mk/bed.mk).
const CoreDNSVersion = "v1.15.0"

// ValkeyVersion is the Valkey `make setup-bed` unpacks (see mk/bed.mk).
const ValkeyVersion = "8.0.1"

// DefaultValkeyDir is where the bed finds Valkey when Options.ValkeyDir is
// empty: $HAREDIS_VALKEY_DIR, else bin/valkey-ValkeyVersion under the
// repository root. Its binaries are in usr/bin.
func DefaultValkeyDir() (string, error) {
	if p := os.Getenv("HAREDIS_VALKEY_DIR"); p != "" {
		return p, nil
	}
	root, err := controlplane.RepoRoot()
	if err != nil {
		return "", fmt.Errorf("cannot find the Valkey directory: %w", err)
	}
	return filepath.Join(root, "bin", "valkey-"+ValkeyVersion), nil
}

func (o *Options) id() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (c *Cluster) startNetwork(ctx context.Context) error {
	r, err := netns.NewRouter(ctx, c.rec.NetnsPrefix+"r", RouterAddr)
	if err != nil {
		return err
	}
	c.router = r
	if err := r.RouteToDummy(ctx, "svc0", ServiceCIDR); err != nil {
		return err
	}
	for i := 1; i <= c.opts.Nodes; i++ {
		if err := r.AddBridge(ctx, bridgeName(i), nodeCIDR(i)); err != nil {
			return err
		}
	}
	return nil
}

func bridgeName(i int) string { return "br" + strconv.Itoa(i) }

func nodeCIDR(i int) netip.Prefix {
	b := PodCIDR.Addr().As4()
	b[2] = byte(i)
	return netip.PrefixFrom(netip.AddrFrom4(b), 24)
}

func (c *Cluster) startControlPlane(ctx context.Context) error {
	cp, err := controlplane.Start(ctx, controlplane.Options{
		Dir:               filepath.Join(c.Dir, "controlplane"),
		KeepDir:           true,
		AdvertiseAddress:  RouterAddr.String(),
		ServiceCIDR:       ServiceCIDR.String(),
		ExtraSANs:         []net.IP{net.IP(RouterAddr.AsSlice())},
		ControllerManager: true,
		Scheduler:         true,
		ExtraControllerManagerArgs: []string{
			// A stopped node turns NotReady within seconds, not 40 s.
			"--node-monitor-period=2s",
			"--node-monitor-grace-period=10s",
			"--cluster-cidr=" + PodCIDR.String(),
		},
		CRDPaths: c.opts.CRDPaths,
	})
	if err != nil {
		return err
	}
	c.ControlPlane = cp
	c.KubeconfigPath = cp.KubeconfigPath
	c.Config = rest.CopyConfig(cp.Config)
	c.Config.QPS, c.Config.Burst = 100, 200
	c.Client, err = kubernetes.NewForConfig(c.Config)
	if err != nil {
		return fmt.Errorf("cannot create client: %w", err)
	}
	return nil
}

// startAPIRelay lets the router namespace (kube-proxy, CoreDNS, and pods
// through the `kubernetes` Service) reach the API server, which listens on
// the host's loopback only.
func (c *Cluster) startAPIRelay(ctx context.Context) error {
	u, err := netip.ParseAddrPort(c.ControlPlane.APIServerURL[len("https://"):])
	if err != nil {
		return fmt.Errorf("cannot parse API server address: %w", err)
	}
	l, err := netns.Listen(c.router.Name, "tcp", net.JoinHostPort("0.0.0.0", strconv.Itoa(int(u.Port()))))
	if err != nil {
		return fmt.Errorf("cannot listen in the router namespace: %w", err)
	}
	target := u.String()
	c.relays = append(c.relays, startRelay(l, func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", target)
	}))
	return nil
}

// Stop stops the bed and removes everything it made. It is safe to call
// more than once.
func (c *Cluster) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var errs []error
	for _, n := range c.nodes {
		n.stop()
	}
	c.nodes = nil
	if c.storage != nil {
		c.storage.Stop()
	}
	if c.stopBack != nil {
		c.stopBack()
	}
	for i := len(c.procs) - 1; i >= 0; i-- {
		if err := c.procs[i].Stop(5 * time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	c.procs = nil
	c.mu.Lock()
	relays := c.relays
	c.relays = nil
	c.mu.Unlock()
	for _, r := range relays {
		_ = r.Close()
	}
	if c.ControlPlane != nil {
		if err := c.ControlPlane.Stop(); err != nil {
			errs = append(errs, err)
		}
		c.ControlPlane = nil
	}
	if c.storage != nil {
		if err := c.storage.Cleanup(ctx); err != nil {
			errs = append(errs, err)
		}
		c.storage = nil
	}
	if err := c.rec.remove(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Leftovers lists what of this bed still exists on the host (processes,
// network namespaces, mounts, loop devices, files); empty after Stop.
func (c *Cluster) Leftovers(ctx context.Context) []string { return c.rec.leftovers(ctx) }

// RouterNetns is the name of the bed's router network namespace.
func (c *Cluster) RouterNetns() string { return c.router.Name }

// WaitFor polls cond every 200 ms until it returns true, an error, or the
// timeout passes.
func WaitFor(ctx context.Context, timeout time.Duration, cond func(context.Context) (bool, error)) error {
	return wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true, cond)
}
