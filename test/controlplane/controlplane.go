package controlplane

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/haredis/haredis/internal/redistest"
)

// Options configure a control plane. The zero value starts etcd and
// kube-apiserver on loopback in a new temporary directory.
type Options struct {
	// Dir holds certificates, data and logs; a new temporary directory when
	// empty. It is removed by Stop unless KeepDir is set.
	Dir     string
	KeepDir bool

	// KubeBinDir holds kube-apiserver, kube-controller-manager,
	// kube-scheduler and kubectl; EtcdPath is the etcd binary. Defaults come
	// from the environment (HAREDIS_KUBE_BIN, HAREDIS_ETCD_BIN) or bin/ of
	// the repository, as `make setup` builds them.
	KubeBinDir string
	EtcdPath   string

	// BindAddress of kube-apiserver; 127.0.0.1 when empty.
	BindAddress string
	// AdvertiseAddress of kube-apiserver (the `kubernetes` Service's
	// endpoint); left to kube-apiserver when empty.
	AdvertiseAddress string
	// ServiceCIDR is the range of ClusterIPs; 10.96.0.0/16 when empty.
	ServiceCIDR string
	// ExtraSANs are more IP addresses the API server certificate is valid for.
	ExtraSANs []net.IP

	// ControllerManager and Scheduler also start those components.
	ControllerManager bool
	Scheduler         bool

	// ExtraAPIServerArgs and ExtraControllerManagerArgs are appended to the
	// components' command lines ("--flag=value").
	ExtraAPIServerArgs         []string
	ExtraControllerManagerArgs []string

	// CRDPaths are files or directories of CustomResourceDefinitions to
	// install once the API server is up.
	CRDPaths []string
}

// ControlPlane is a running control plane.
type ControlPlane struct {
	// Dir holds everything the control plane wrote.
	Dir string
	// KubeconfigPath is an admin (system:masters) kubeconfig.
	KubeconfigPath string
	// Config is the admin REST config.
	Config *rest.Config
	// APIServerURL is https://HOST:PORT of kube-apiserver.
	APIServerURL string
	// CA signs every certificate of the control plane; use it to issue
	// credentials for nodes and controllers.
	CA *CA
	// ServiceAccountKeyPath is the private key that signs service-account tokens.
	ServiceAccountKeyPath string
	// KubectlPath is the kubectl binary of the same version.
	KubectlPath string

	opts    Options
	etcdURL string
	procs   []*Process // in start order
}

// Start starts the control plane and waits until it serves. On error it stops
// whatever it started.
func Start(ctx context.Context, opts Options) (*ControlPlane, error) {
	if err := opts.complete(); err != nil {
		return nil, err
	}
	cp := &ControlPlane{Dir: opts.Dir, opts: opts, KubectlPath: filepath.Join(opts.KubeBinDir, "kubectl")}
	steps := []func(context.Context) error{cp.writePKI, cp.startEtcd, cp.startAPIServer, cp.installCRDs}
	if opts.ControllerManager {
		steps = append(steps, cp.startControllerManager)
	}
	if opts.Scheduler {
		steps = append(steps, cp.startScheduler)
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return nil, errors.Join(err, cp.Stop())
		}
	}
	return cp, nil
}

func (o *Options) complete() error {
	if o.KubeBinDir == "" || o.EtcdPath == "" {
		kubeBin, etcdPath, err := DefaultBinaries()
		if err != nil {
			return err
		}
		if o.KubeBinDir == "" {
			o.KubeBinDir = kubeBin
		}
		if o.EtcdPath == "" {
			o.EtcdPath = etcdPath
		}
	}
	for _, p := range []string{filepath.Join(o.KubeBinDir, "kube-apiserver"), o.EtcdPath} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("control plane binary %s is missing: run `make setup` to build it: %w", p, err)
		}
	}
	if o.BindAddress == "" {
		o.BindAddress = "127.0.0.1"
	}
	if o.ServiceCIDR == "" {
		o.ServiceCIDR = "10.96.0.0/16"
	}
	if o.Dir == "" {
		dir, err := os.MkdirTemp("", "haredis-controlplane-")
		if err != nil {
			return fmt.Errorf("cannot create control plane directory: %w", err)
		}
		o.Dir = dir
	}
	return os.MkdirAll(o.Dir, 0o755)
}

func (cp *ControlPlane) pki() string { return filepath.Join(cp.Dir, "pki") }

func (cp *ControlPlane) writePKI(context.Context) error {
	if err := os.MkdirAll(cp.pki(), 0o700); err != nil {
		return fmt.Errorf("cannot create pki directory: %w", err)
	}
	ca, err := newCA("haredis-test-ca")
	if err != nil {
		return err
	}
	cp.CA = ca
	if err := os.WriteFile(filepath.Join(cp.pki(), "ca.crt"), ca.CertPEM, 0o644); err != nil {
		return fmt.Errorf("cannot write CA certificate: %w", err)
	}
	serviceIP, err := firstIP(cp.opts.ServiceCIDR)
	if err != nil {
		return err
	}
	ips := append([]net.IP{net.ParseIP("127.0.0.1"), net.ParseIP(cp.opts.BindAddress), serviceIP}, cp.opts.ExtraSANs...)
	if cp.opts.AdvertiseAddress != "" {
		ips = append(ips, net.ParseIP(cp.opts.AdvertiseAddress))
	}
	serving, err := ca.Issue(CertRequest{
		CommonName: "kube-apiserver",
		DNSNames:   []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		IPs:        ips,
		Server:     true,
	})
	if err != nil {
		return err
	}
	if _, _, err := serving.Write(cp.pki(), "apiserver"); err != nil {
		return err
	}
	kubeletClient, err := ca.Issue(CertRequest{CommonName: "kube-apiserver-kubelet-client", Organization: []string{"system:masters"}, Client: true})
	if err != nil {
		return err
	}
	if _, _, err := kubeletClient.Write(cp.pki(), "apiserver-kubelet-client"); err != nil {
		return err
	}
	cp.ServiceAccountKeyPath, _, err = writeServiceAccountKeys(cp.pki())
	return err
}

func (cp *ControlPlane) startEtcd(ctx context.Context) error {
	clientPort, err := FreePort()
	if err != nil {
		return err
	}
	peerPort, err := FreePort()
	if err != nil {
		return err
	}
	client := "http://127.0.0.1:" + strconv.Itoa(clientPort)
	peer := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	p, err := cp.start("etcd", cp.opts.EtcdPath,
		"--name=default",
		"--data-dir="+filepath.Join(cp.Dir, "etcd"),
		"--listen-client-urls="+client,
		"--advertise-client-urls="+client,
		"--listen-peer-urls="+peer,
		"--initial-advertise-peer-urls="+peer,
		"--initial-cluster=default="+peer,
		"--unsafe-no-fsync=true",
		"--log-level=warn",
	)
	if err != nil {
		return err
	}
	cp.etcdURL = client
	return waitHTTP(ctx, p, client+"/health", nil, 60*time.Second)
}

func (cp *ControlPlane) startAPIServer(ctx context.Context) error {
	port, err := FreePort()
	if err != nil {
		return err
	}
	pki := cp.pki()
	args := []string{
		"--etcd-servers=" + cp.etcdURL,
		"--bind-address=" + cp.opts.BindAddress,
		"--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + pki,
		"--tls-cert-file=" + filepath.Join(pki, "apiserver.crt"),
		"--tls-private-key-file=" + filepath.Join(pki, "apiserver.key"),
		"--client-ca-file=" + filepath.Join(pki, "ca.crt"),
		"--kubelet-client-certificate=" + filepath.Join(pki, "apiserver-kubelet-client.crt"),
		"--kubelet-client-key=" + filepath.Join(pki, "apiserver-kubelet-client.key"),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + filepath.Join(pki, "sa.pub"),
		"--service-account-signing-key-file=" + cp.ServiceAccountKeyPath,
		"--service-cluster-ip-range=" + cp.opts.ServiceCIDR,
		"--authorization-mode=Node,RBAC",
		"--allow-privileged=true",
		"--profiling=false",
	}
	if cp.opts.AdvertiseAddress != "" {
		args = append(args, "--advertise-address="+cp.opts.AdvertiseAddress)
	}
	args = append(args, cp.opts.ExtraAPIServerArgs...)
	p, err := cp.start("kube-apiserver", filepath.Join(cp.opts.KubeBinDir, "kube-apiserver"), args...)
	if err != nil {
		return err
	}
	cp.APIServerURL = "https://" + net.JoinHostPort(cp.opts.BindAddress, strconv.Itoa(port))
	cp.KubeconfigPath, err = cp.WriteKubeconfig("admin", "haredis-admin", "system:masters")
	if err != nil {
		return err
	}
	cp.Config, err = clientcmd.BuildConfigFromFlags("", cp.KubeconfigPath)
	if err != nil {
		return fmt.Errorf("cannot load admin kubeconfig: %w", err)
	}
	tlsConfig, err := cp.clientTLS("haredis-admin", "system:masters")
	if err != nil {
		return err
	}
	return waitHTTP(ctx, p, cp.APIServerURL+"/readyz", tlsConfig, 90*time.Second)
}

func (cp *ControlPlane) installCRDs(ctx context.Context) error {
	if len(cp.opts.CRDPaths) == 0 {
		return nil
	}
	_, err := envtest.InstallCRDs(cp.Config, envtest.CRDInstallOptions{
		Paths:              cp.opts.CRDPaths,
		ErrorIfPathMissing: true,
		MaxTime:            60 * time.Second,
	})
	if err != nil {
		return fmt.Errorf("cannot install CRDs from %v: %w", cp.opts.CRDPaths, err)
	}
	return nil
}

func (cp *ControlPlane) startControllerManager(ctx context.Context) error {
	kubeconfig, err := cp.WriteKubeconfig("kube-controller-manager", "system:kube-controller-manager")
	if err != nil {
		return err
	}
	port, err := FreePort()
	if err != nil {
		return err
	}
	args := []string{
		"--kubeconfig=" + kubeconfig,
		"--authentication-kubeconfig=" + kubeconfig,
		"--authorization-kubeconfig=" + kubeconfig,
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + filepath.Join(cp.Dir, "kube-controller-manager"),
		"--service-account-private-key-file=" + cp.ServiceAccountKeyPath,
		"--root-ca-file=" + filepath.Join(cp.pki(), "ca.crt"),
		"--service-cluster-ip-range=" + cp.opts.ServiceCIDR,
		"--use-service-account-credentials=true",
		"--leader-elect=false",
		"--profiling=false",
	}
	args = append(args, cp.opts.ExtraControllerManagerArgs...)
	p, err := cp.start("kube-controller-manager", filepath.Join(cp.opts.KubeBinDir, "kube-controller-manager"), args...)
	if err != nil {
		return err
	}
	return waitHTTP(ctx, p, "https://127.0.0.1:"+strconv.Itoa(port)+"/healthz", &tls.Config{InsecureSkipVerify: true}, 60*time.Second)
}

func (cp *ControlPlane) startScheduler(ctx context.Context) error {
	kubeconfig, err := cp.WriteKubeconfig("kube-scheduler", "system:kube-scheduler")
	if err != nil {
		return err
	}
	port, err := FreePort()
	if err != nil {
		return err
	}
	p, err := cp.start("kube-scheduler", filepath.Join(cp.opts.KubeBinDir, "kube-scheduler"),
		"--kubeconfig="+kubeconfig,
		"--authentication-kubeconfig="+kubeconfig,
		"--authorization-kubeconfig="+kubeconfig,
		"--bind-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(port),
		"--cert-dir="+filepath.Join(cp.Dir, "kube-scheduler"),
		"--leader-elect=false",
		"--profiling=false",
	)
	if err != nil {
		return err
	}
	return waitHTTP(ctx, p, "https://127.0.0.1:"+strconv.Itoa(port)+"/healthz", &tls.Config{InsecureSkipVerify: true}, 60*time.Second)
}

// WriteKubeconfig issues a client certificate for user in groups and writes
// a kubeconfig named name.kubeconfig that uses it; it returns its path.
func (cp *ControlPlane) WriteKubeconfig(name, user string, groups ...string) (string, error) {
	kp, err := cp.CA.Issue(CertRequest{CommonName: user, Organization: groups, Client: true})
	if err != nil {
		return "", err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["haredis-test"] = &clientcmdapi.Cluster{Server: cp.APIServerURL, CertificateAuthorityData: cp.CA.CertPEM}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificateData: kp.CertPEM, ClientKeyData: kp.KeyPEM}
	cfg.Contexts["haredis-test"] = &clientcmdapi.Context{Cluster: "haredis-test", AuthInfo: user}
	cfg.CurrentContext = "haredis-test"
	path := filepath.Join(cp.Dir, name+".kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return "", fmt.Errorf("cannot write kubeconfig %s: %w", path, err)
	}
	return path, nil
}

func (cp *ControlPlane) clientTLS(user string, groups ...string) (*tls.Config, error) {
	kp, err := cp.CA.Issue(CertRequest{CommonName: user, Organization: groups, Client: true})
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(kp.CertPEM, kp.KeyPEM)
	if err != nil {
		return nil, fmt.Errorf("cannot load client certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cp.CA.Cert)
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool}, nil
}

func (cp *ControlPlane) start(name, path string, args ...string) (*Process, error) {
	p, err := StartProcess(cp.Dir, name, path, args...)
	if err != nil {
		return nil, err
	}
	cp.procs = append(cp.procs, p)
	return p, nil
}

// Processes returns the running components in start order.
func (cp *ControlPlane) Processes() []*Process { return append([]*Process(nil), cp.procs...) }

// Stop stops every component in reverse start order and removes Dir unless
// KeepDir was set. It is safe to call more than once.
func (cp *ControlPlane) Stop() error {
	var errs []error
	for i := len(cp.procs) - 1; i >= 0; i-- {
		if err := cp.procs[i].Stop(10 * time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	cp.procs = nil
	if !cp.opts.KeepDir && cp.Dir != "" {
		if err := os.RemoveAll(cp.Dir); err != nil {
			errs = append(errs, fmt.Errorf("cannot remove %s: %w", cp.Dir, err))
		}
	}
	return errors.Join(errs...)
}

// waitHTTP polls url until it answers 200, p exits, or the timeout passes.
func waitHTTP(ctx context.Context, p *Process, url string, tlsConfig *tls.Config, timeout time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConfig}}
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last string
	for {
		if exited, err := p.Exited(); exited {
			return fmt.Errorf("%s exited while starting (%v); last log lines:\n%s", p.Name, err, p.Tail(3000))
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s did not become ready at %s within %s (last: %s); last log lines:\n%s", p.Name, url, timeout, last, p.Tail(3000))
		case <-tick.C:
		}
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) { return redistest.FreePort() }

func firstIP(cidr string) (net.IP, error) {
	_, n, err := net.ParseCIDR(cidr)
	if err != nil {
		return nil, fmt.Errorf("invalid service CIDR %q: %w", cidr, err)
	}
	ip := n.IP.To4()
	if ip == nil {
		return nil, fmt.Errorf("service CIDR %q: only IPv4 is supported", cidr)
	}
	first := make(net.IP, 4)
	copy(first, ip)
	first[3]++
	return first, nil
}
