package node

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/virtual-kubelet/virtual-kubelet/errdefs"
	vknode "github.com/virtual-kubelet/virtual-kubelet/node"
	"github.com/virtual-kubelet/virtual-kubelet/node/nodeutil"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/haredis/haredis/test/bed/netns"
)

// Config describes one node of the bed.
type Config struct {
	// Name of the Node object; Zone its topology.kubernetes.io/zone label.
	Name, Zone string
	// Index numbers the node in the bed; it names its links.
	Index int
	// Router holds the node's Bridge; pods get addresses of PodCIDR.
	Router  *netns.Router
	Bridge  string
	PodCIDR netip.Prefix
	// NetnsPrefix starts the name of every pod namespace of the bed.
	NetnsPrefix string
	// StateDir keeps the node's pods: volumes, roots, logs.
	StateDir string
	// Client talks to the API server as this node.
	Client kubernetes.Interface
	// Images maps image references to host programs.
	Images *Images
	// DNS is the cluster DNS address written to each pod's resolv.conf.
	DNS netip.Addr
	// ClusterDomain is the DNS suffix of Services, usually cluster.local.
	ClusterDomain string
	// APIHost and APIPort are the `kubernetes` Service as pods see it.
	APIHost string
	APIPort int
	// KubeletPort is where the node's kubelet API listens on 127.0.0.1.
	KubeletPort int
	// KubeletVersion is reported in the node's status.
	KubeletVersion string
	// VolumeSyncPeriod paces the refresh of configMap, secret and projected
	// volumes in running pods: each pod waits a random time between the
	// period and twice it before the next rewrite, as a kubelet resyncs a pod
	// every sync period (1 min) plus up to half of it. DefaultVolumeSyncPeriod
	// when zero. DownwardAPI volumes (and the others with them) are also
	// rewritten at once when the pod's labels or annotations change.
	VolumeSyncPeriod time.Duration
	Log              logr.Logger
}

// DefaultVolumeSyncPeriod makes a ConfigMap or Secret change reach running
// pods within 10 to 20 s: a kubelet takes 60 to 90 s (its sync period and
// jitter) plus its cache's delay.
const DefaultVolumeSyncPeriod = 10 * time.Second

// Provider runs the pods of one node.
type Provider struct {
	cfg   Config
	lists nodeutil.ProviderConfig
	ipam  *ipam

	mu   sync.Mutex
	pods map[string]*podRun // by namespace/name: the pod of that name now
	// retired are runs whose API object is gone and whose name a new pod
	// took (a forced deletion and the pod created again at once) while
	// their processes still stop, by UID.
	retired map[types.UID]*podRun
	notify  func(*corev1.Pod)
	closing bool
	seq     int
}

// New returns a provider; pass its NewProviderFunc to nodeutil.NewNode.
func New(cfg Config) *Provider {
	return &Provider{cfg: cfg, ipam: newIPAM(cfg.PodCIDR), pods: map[string]*podRun{}, retired: map[types.UID]*podRun{}}
}

// NewProviderFunc fills the node object and hands the provider to
// virtual-kubelet.
func (p *Provider) NewProviderFunc(pc nodeutil.ProviderConfig) (nodeutil.Provider, vknode.NodeProvider, error) {
	p.lists = pc
	p.fillNode(pc.Node)
	return p, nil, nil
}

func (p *Provider) fillNode(n *corev1.Node) {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse("16"),
		corev1.ResourceMemory:           resource.MustParse("64Gi"),
		corev1.ResourcePods:             resource.MustParse("110"),
		corev1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
	}
	n.Labels["topology.kubernetes.io/zone"] = p.cfg.Zone
	n.Labels["topology.kubernetes.io/region"] = "bed"
	n.Labels["kubernetes.io/os"] = "linux"
	n.Labels["kubernetes.io/arch"] = "amd64"
	n.Labels["haredis.dev/bed-node"] = "true"
	n.Spec.PodCIDR = p.cfg.PodCIDR.String()
	n.Spec.PodCIDRs = []string{p.cfg.PodCIDR.String()}
	n.Status.Capacity = capacity
	n.Status.Allocatable = capacity.DeepCopy()
	// Only an InternalIP: with a Hostname address the API server tries to
	// resolve the node name for logs and exec.
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}}
	n.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(p.cfg.KubeletPort)
	n.Status.NodeInfo = corev1.NodeSystemInfo{
		KubeletVersion:          p.cfg.KubeletVersion,
		OperatingSystem:         "linux",
		Architecture:            "amd64",
		ContainerRuntimeVersion: "haredis-bed://1",
		KernelVersion:           "host",
		OSImage:                 "haredis test bed",
	}
	for i, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			continue
		}
		n.Status.Conditions[i].Status = corev1.ConditionFalse
		n.Status.Conditions[i].Reason = "KubeletHasNo" + string(c.Type)
		n.Status.Conditions[i].LastHeartbeatTime = metav1.Now()
		n.Status.Conditions[i].LastTransitionTime = metav1.Now()
	}
}

func key(namespace, name string) string { return namespace + "/" + name }

// CreatePod starts the pod's lifecycle; its status follows through NotifyPods.
func (p *Provider) CreatePod(ctx context.Context, pod *corev1.Pod) error {
	if p.goneFromAPI(ctx, pod) {
		// A late event of a pod whose object is gone (virtual-kubelet's
		// lister lags the API server): it must not run again.
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	k := key(pod.Namespace, pod.Name)
	old, ok := p.pods[k]
	if ok && old.pod.UID == pod.UID {
		return nil
	}
	if _, gone := p.retired[pod.UID]; gone {
		// A late event of a pod whose object is gone (virtual-kubelet's
		// lister lags the API server): it must not run again.
		return nil
	}
	if ok {
		// A pod's name is unique in the API: a new UID under it means the
		// old object is gone. A kubelet stops such a pod and starts the
		// new one without waiting for it; so does the bed.
		p.retired[old.pod.UID] = old
		go old.terminate(specGrace(old.pod), false)
	}
	p.seq++
	run := newPodRun(p, pod.DeepCopy(), p.seq)
	p.pods[k] = run
	go run.run()
	return nil
}

// UpdatePod receives changes of a running pod's object (virtual-kubelet
// calls it when labels, annotations, images, tolerations or
// activeDeadlineSeconds changed). The bed takes the new labels and
// annotations and rewrites the pod's API data volumes at once, as a kubelet
// syncs the pod; it applies no other change (no image update in place).
func (p *Provider) UpdatePod(ctx context.Context, pod *corev1.Pod) error {
	run := p.get(pod.Namespace, pod.Name)
	if run == nil {
		return errdefs.NotFoundf("pod %s/%s is not on this node", pod.Namespace, pod.Name)
	}
	run.updateMeta(pod)
	return nil
}

// DeletePod starts a graceful stop and returns at once; the pod's object is
// removed once its processes are gone.
func (p *Provider) DeletePod(ctx context.Context, pod *corev1.Pod) error {
	run := p.get(pod.Namespace, pod.Name)
	if run == nil || run.pod.UID != pod.UID {
		p.mu.Lock()
		run = p.retired[pod.UID]
		p.mu.Unlock()
	}
	if run == nil {
		return errdefs.NotFoundf("pod %s/%s is not on this node", pod.Namespace, pod.Name)
	}
	grace := specGrace(pod)
	if pod.DeletionGracePeriodSeconds != nil {
		grace = *pod.DeletionGracePeriodSeconds
	}
	run.terminate(grace, true)
	return nil
}

// GetPod returns the pod as the provider last saw it. virtual-kubelet
// asks by name only: when the name already belongs to a new pod in the API
// (the old one force-deleted and created again at once), the old run is
// not that pod. It is retired and stopped, as a kubelet stops a pod whose
// object is gone, and GetPod answers NotFound so that the new pod is
// created instead of being taken for the old one.
func (p *Provider) GetPod(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	run := p.get(namespace, name)
	if run != nil && p.replacedInAPI(ctx, run) {
		p.retire(run)
		run = nil
	}
	if run == nil {
		return nil, errdefs.NotFoundf("pod %s/%s is not on this node", namespace, name)
	}
	return run.snapshot(), nil
}

// replacedInAPI reports whether the API holds a pod of run's name with
// another UID. Errors answer false: the run stays what it was.
func (p *Provider) replacedInAPI(ctx context.Context, run *podRun) bool {
	if p.cfg.Client == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cur, err := p.cfg.Client.CoreV1().Pods(run.pod.Namespace).Get(ctx, run.pod.Name, metav1.GetOptions{})
	return err == nil && cur.UID != run.pod.UID
}

// goneFromAPI reports whether the API server no longer holds pod (its name
// is free or belongs to another UID). Errors answer false.
func (p *Provider) goneFromAPI(ctx context.Context, pod *corev1.Pod) bool {
	if p.cfg.Client == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cur, err := p.cfg.Client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return true
	}
	return err == nil && cur.UID != pod.UID
}

// retire moves run out of its name and stops it with its spec's grace.
func (p *Provider) retire(run *podRun) {
	p.mu.Lock()
	k := key(run.pod.Namespace, run.pod.Name)
	if p.pods[k] == run {
		delete(p.pods, k)
	}
	p.retired[run.pod.UID] = run
	p.mu.Unlock()
	go run.terminate(specGrace(run.pod), false)
}

// GetPodStatus returns the pod's current status.
func (p *Provider) GetPodStatus(ctx context.Context, namespace, name string) (*corev1.PodStatus, error) {
	pod, err := p.GetPod(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	return &pod.Status, nil
}

// GetPods returns every pod of the node.
func (p *Provider) GetPods(ctx context.Context) ([]*corev1.Pod, error) {
	p.mu.Lock()
	runs := make([]*podRun, 0, len(p.pods))
	for _, r := range p.pods {
		runs = append(runs, r)
	}
	p.mu.Unlock()
	out := make([]*corev1.Pod, 0, len(runs))
	for _, r := range runs {
		out = append(out, r.snapshot())
	}
	return out, nil
}

// NotifyPods registers the callback that receives status changes.
func (p *Provider) NotifyPods(ctx context.Context, cb func(*corev1.Pod)) {
	p.mu.Lock()
	p.notify = cb
	p.mu.Unlock()
	go p.syncStatuses(ctx)
}

func (p *Provider) get(namespace, name string) *podRun {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pods[key(namespace, name)]
}

func (p *Provider) forget(run *podRun) {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := key(run.pod.Namespace, run.pod.Name)
	if p.pods[k] == run {
		delete(p.pods, k)
	}
	if p.retired[run.pod.UID] == run {
		delete(p.retired, run.pod.UID)
	}
}

// current reports whether run is the pod its name stands for now.
func (p *Provider) current(run *podRun) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pods[key(run.pod.Namespace, run.pod.Name)] == run
}

// specGrace is the pod's terminationGracePeriodSeconds, 30 when unset.
func specGrace(pod *corev1.Pod) int64 {
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		return *pod.Spec.TerminationGracePeriodSeconds
	}
	return 30
}

func (p *Provider) publish(pod *corev1.Pod) {
	p.mu.Lock()
	cb, closing := p.notify, p.closing
	p.mu.Unlock()
	if cb == nil || closing {
		return
	}
	cb(pod)
}

// volumeSyncWait is how long a pod waits before its next refresh of API
// data volumes: between the period and twice it.
func (p *Provider) volumeSyncWait() time.Duration {
	period := p.cfg.VolumeSyncPeriod
	if period <= 0 {
		period = DefaultVolumeSyncPeriod
	}
	return period + rand.N(period)
}

func (p *Provider) podDir(pod *corev1.Pod) string {
	return filepath.Join(p.cfg.StateDir, "pods", string(pod.UID))
}

// Shutdown kills every pod of the node at once, as a power cut would, and
// waits until their processes are gone and their namespaces removed. No
// status is reported from here on, so no pod turns Failed because the node
// went away.
func (p *Provider) Shutdown() {
	p.mu.Lock()
	p.closing = true
	runs := make([]*podRun, 0, len(p.pods))
	for _, r := range p.pods {
		runs = append(runs, r)
	}
	p.mu.Unlock()
	for _, r := range runs {
		r.terminate(0, false)
	}
	for _, r := range runs {
		<-r.done
	}
}

// Pod gives the fault handles access to one pod of the node.
func (p *Provider) Pod(namespace, name string) (*PodHandle, error) {
	run := p.get(namespace, name)
	if run == nil {
		return nil, fmt.Errorf("pod %s/%s is not on node %s", namespace, name, p.cfg.Name)
	}
	return &PodHandle{run: run}, nil
}
