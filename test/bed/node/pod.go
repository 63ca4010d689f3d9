package node

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/haredis/haredis/test/bed/netns"
)

// podRun is one pod on the node, from its sandbox to its removal.
type podRun struct {
	p   *Provider
	seq int
	dir string

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu         sync.Mutex
	pod        *corev1.Pod
	ip         netip.Addr
	link       netns.PodLink
	volumes    map[string]string // volume name -> host path
	tokens     map[string]issuedToken
	resync     chan struct{} // the pod's object changed: refresh API data volumes
	inits      []*containerRun
	ctrs       []*containerRun
	phase      corev1.PodPhase
	conditions map[corev1.PodConditionType]corev1.PodCondition
	initDone   bool
	netReady   bool
	grace      int64
	deleteObj  bool
	terminated bool
}

func newPodRun(p *Provider, pod *corev1.Pod, seq int) *podRun {
	ctx, cancel := context.WithCancel(context.Background())
	r := &podRun{
		p: p, seq: seq, pod: pod, dir: p.podDir(pod),
		ctx: ctx, cancel: cancel, done: make(chan struct{}),
		phase:      corev1.PodPending,
		conditions: map[corev1.PodConditionType]corev1.PodCondition{},
		volumes:    map[string]string{},
		tokens:     map[string]issuedToken{},
		resync:     make(chan struct{}, 1),
	}
	// A node restart brings its pods back: their containers count as restarted.
	prev := map[string]int32{}
	for _, s := range pod.Status.ContainerStatuses {
		prev[s.Name] = s.RestartCount
		if s.State.Running != nil || s.LastTerminationState.Terminated != nil || s.State.Terminated != nil {
			prev[s.Name]++
		}
	}
	for _, c := range pod.Spec.InitContainers {
		r.inits = append(r.inits, newContainerRun(r, c, true, 0))
	}
	for _, c := range pod.Spec.Containers {
		r.ctrs = append(r.ctrs, newContainerRun(r, c, false, prev[c.Name]))
	}
	return r
}

func (r *podRun) log() interface {
	Info(string, ...any)
	Error(error, string, ...any)
} {
	return r.p.cfg.Log.WithValues("pod", r.pod.Namespace+"/"+r.pod.Name)
}

// updateMeta takes the pod's new labels and annotations and has its API data
// volumes rewritten at once: a kubelet syncs a pod, and so remounts its
// downwardAPI volumes, whenever the pod's object changes.
func (r *podRun) updateMeta(pod *corev1.Pod) {
	r.mu.Lock()
	r.pod.Labels = pod.Labels
	r.pod.Annotations = pod.Annotations
	r.mu.Unlock()
	select {
	case r.resync <- struct{}{}:
	default:
	}
}

// run drives the pod: sandbox, init containers in order, then the containers,
// until terminate is called; then it stops everything and cleans up. Its API
// data volumes are kept up to date from the moment they exist.
func (r *podRun) run() {
	defer close(r.done)
	r.setCondition(corev1.PodScheduled, true, "")
	r.publish()
	refreshed := make(chan struct{})
	var wg sync.WaitGroup
	if r.prepare() {
		go func() {
			defer close(refreshed)
			r.refreshAPIData()
		}()
		if r.runInits() {
			for _, c := range r.ctrs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c.supervise(r.ctx)
				}()
			}
		}
	} else {
		close(refreshed)
	}
	<-r.ctx.Done()
	r.stopContainers()
	wg.Wait()
	// Nothing may write into the pod's directory once cleanup removes it.
	<-refreshed
	r.cleanup()
}

// prepare creates the pod's network namespace and volumes, retrying on
// errors (for example a PVC not bound yet) until the pod is deleted.
func (r *podRun) prepare() bool {
	backoff := time.Second
	for {
		err := r.setupNetwork()
		if err == nil {
			err = r.setupVolumes()
		}
		if err == nil {
			return true
		}
		r.log().Error(err, "cannot prepare pod")
		r.waitAll("ContainerCreating", err.Error())
		select {
		case <-r.ctx.Done():
			return false
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

func (r *podRun) setupNetwork() error {
	r.mu.Lock()
	ready := r.netReady
	r.mu.Unlock()
	if ready {
		return nil
	}
	ip, ok := r.p.ipam.allocate()
	if !ok {
		return fmt.Errorf("cannot allocate a pod address: %s is full", r.p.cfg.PodCIDR)
	}
	link := netns.PodLink{
		Netns:  fmt.Sprintf("%s%d-%d", r.p.cfg.NetnsPrefix, r.p.cfg.Index, r.seq),
		Veth:   fmt.Sprintf("v%dp%d", r.p.cfg.Index, r.seq),
		Bridge: r.p.cfg.Bridge,
		Addr:   netip.PrefixFrom(ip, r.p.cfg.PodCIDR.Bits()),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.p.cfg.Router.AddPod(ctx, link); err != nil {
		_ = r.p.cfg.Router.RemovePod(ctx, link)
		r.p.ipam.release(ip)
		return fmt.Errorf("cannot wire pod network: %w", err)
	}
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return fmt.Errorf("cannot create pod directory: %w", err)
	}
	r.mu.Lock()
	r.ip, r.link, r.netReady = ip, link, true
	r.pod.Status.PodIP = ip.String()
	r.pod.Status.PodIPs = []corev1.PodIP{{IP: ip.String()}}
	r.mu.Unlock()
	r.setCondition(corev1.PodReadyToStartContainers, true, "")
	return r.writeNetworkFiles()
}

func (r *podRun) writeNetworkFiles() error {
	pod := r.pod
	cfg := r.p.cfg
	host := r.hostname()
	fqdn := host
	if pod.Spec.Subdomain != "" {
		fqdn = fmt.Sprintf("%s.%s.%s.svc.%s", host, pod.Spec.Subdomain, pod.Namespace, cfg.ClusterDomain)
	}
	hosts := fmt.Sprintf("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n%s\t%s %s\n", r.ip, fqdn, host)
	search := []string{pod.Namespace + ".svc." + cfg.ClusterDomain, "svc." + cfg.ClusterDomain, cfg.ClusterDomain}
	resolv := fmt.Sprintf("search %s\nnameserver %s\noptions ndots:5\n", strings.Join(search, " "), cfg.DNS)
	files := map[string]string{"hosts": hosts, "resolv.conf": resolv, "hostname": host + "\n"}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(r.dir, name), []byte(content), 0o644); err != nil {
			return fmt.Errorf("cannot write %s: %w", name, err)
		}
	}
	return nil
}

func (r *podRun) hostname() string {
	if r.pod.Spec.Hostname != "" {
		return r.pod.Spec.Hostname
	}
	return r.pod.Name
}

// runInits runs the init containers one after the other, each until it
// succeeds; false when the pod failed or is being deleted.
func (r *podRun) runInits() bool {
	for _, c := range r.inits {
		if !c.runToCompletion(r.ctx) {
			if r.ctx.Err() == nil && r.pod.Spec.RestartPolicy == corev1.RestartPolicyNever {
				r.mu.Lock()
				r.phase = corev1.PodFailed
				r.mu.Unlock()
				r.publish()
			}
			return false
		}
	}
	r.mu.Lock()
	r.initDone = true
	r.mu.Unlock()
	r.setCondition(corev1.PodInitialized, true, "")
	return true
}

// terminate stops the pod: SIGTERM, grace seconds, SIGKILL. With deleteObj
// the pod's API object is removed once its processes are gone.
func (r *podRun) terminate(grace int64, deleteObj bool) {
	r.mu.Lock()
	if r.ctx.Err() != nil {
		if grace < r.grace {
			r.grace = grace
			for _, c := range r.ctrs {
				c.shortenGrace()
			}
		}
		r.mu.Unlock()
		return
	}
	r.grace, r.deleteObj = grace, deleteObj
	r.mu.Unlock()
	r.cancel()
}

// graceDuration is the grace period the pod stops with.
func (r *podRun) graceDuration() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return time.Duration(r.grace) * time.Second
}

func (r *podRun) stopContainers() {
	grace := r.graceDuration()
	var wg sync.WaitGroup
	for _, c := range append(append([]*containerRun(nil), r.inits...), r.ctrs...) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.stop(grace, true)
		}()
	}
	wg.Wait()
}

// cleanup removes the sandbox, reports the final status and, for a deleted
// pod, removes its object as a kubelet does once the containers are gone.
func (r *podRun) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r.mu.Lock()
	link, ip, netReady := r.link, r.ip, r.netReady
	deleteObj := r.deleteObj
	r.terminated = true
	r.mu.Unlock()
	if netReady {
		if err := r.p.cfg.Router.RemovePod(ctx, link); err != nil {
			r.log().Error(err, "cannot remove pod network")
		}
		r.p.ipam.release(ip)
	}
	if err := os.RemoveAll(r.dir); err != nil {
		r.log().Error(err, "cannot remove pod directory")
	}
	r.publish()
	if deleteObj {
		opts := metav1.DeleteOptions{GracePeriodSeconds: new(int64), Preconditions: metav1.NewUIDPreconditions(string(r.pod.UID))}
		err := r.p.cfg.Client.CoreV1().Pods(r.pod.Namespace).Delete(ctx, r.pod.Name, opts)
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			r.log().Error(err, "cannot remove pod object")
		}
	}
	r.p.forget(r)
}

func (r *podRun) setCondition(t corev1.PodConditionType, ok bool, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.setConditionLocked(t, ok, reason)
}

func (r *podRun) setConditionLocked(t corev1.PodConditionType, ok bool, reason string) {
	status := corev1.ConditionFalse
	if ok {
		status = corev1.ConditionTrue
	}
	old, exists := r.conditions[t]
	if exists && old.Status == status && old.Reason == reason {
		return
	}
	r.conditions[t] = corev1.PodCondition{Type: t, Status: status, Reason: reason, LastTransitionTime: metav1.Now()}
}

// waitAll marks every container that has not started yet as waiting.
func (r *podRun) waitAll(reason, message string) {
	r.mu.Lock()
	for _, c := range append(append([]*containerRun(nil), r.inits...), r.ctrs...) {
		if c.status.State.Running == nil && c.status.State.Terminated == nil {
			c.status.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: message}}
		}
	}
	r.mu.Unlock()
	r.publish()
}

// publish sends the current status to virtual-kubelet.
// publish reports the pod's status; a retired run no longer does, since
// its name belongs to a new pod whose status it must not overwrite.
func (r *podRun) publish() {
	if r.p.current(r) {
		r.p.publish(r.snapshot())
	}
}

// snapshot is the pod with its current status.
func (r *podRun) snapshot() *corev1.Pod {
	r.mu.Lock()
	defer r.mu.Unlock()
	pod := r.pod.DeepCopy()
	pod.Status = r.statusLocked()
	return pod
}

func (r *podRun) statusLocked() corev1.PodStatus {
	s := corev1.PodStatus{
		QOSClass: r.pod.Status.QOSClass,
		HostIP:   "127.0.0.1",
		HostIPs:  []corev1.HostIP{{IP: "127.0.0.1"}},
		PodIP:    r.pod.Status.PodIP,
		PodIPs:   r.pod.Status.PodIPs,
	}
	if r.pod.Status.StartTime != nil {
		s.StartTime = r.pod.Status.StartTime
	} else {
		now := metav1.Now()
		r.pod.Status.StartTime = &now
		s.StartTime = &now
	}
	allReady, anyRunning, allDone, anyFailed, allStarted := true, false, true, false, true
	for _, c := range r.ctrs {
		cs := c.statusLocked()
		s.ContainerStatuses = append(s.ContainerStatuses, cs)
		allReady = allReady && cs.Ready
		anyRunning = anyRunning || cs.State.Running != nil
		allStarted = allStarted && (cs.State.Running != nil || cs.State.Terminated != nil || cs.RestartCount > 0)
		done := cs.State.Terminated != nil && (c.final || r.terminated || r.ctx.Err() != nil)
		allDone = allDone && done
		anyFailed = anyFailed || (cs.State.Terminated != nil && cs.State.Terminated.ExitCode != 0)
	}
	for _, c := range r.inits {
		s.InitContainerStatuses = append(s.InitContainerStatuses, c.statusLocked())
	}
	switch {
	case r.phase == corev1.PodFailed:
		s.Phase = corev1.PodFailed
	case allDone && len(r.ctrs) > 0 && r.initDone:
		s.Phase = corev1.PodSucceeded
		if anyFailed {
			s.Phase = corev1.PodFailed
		}
	case r.terminated && !r.initDone:
		s.Phase = corev1.PodFailed
	case r.initDone && allStarted && (anyRunning || !allDone):
		s.Phase = corev1.PodRunning
	default:
		s.Phase = corev1.PodPending
	}
	ready := allReady && anyRunning && s.Phase == corev1.PodRunning
	r.setConditionLocked(corev1.ContainersReady, ready, reasonIf(!ready, "ContainersNotReady"))
	r.setConditionLocked(corev1.PodReady, ready, reasonIf(!ready, "ContainersNotReady"))
	if _, ok := r.conditions[corev1.PodInitialized]; !ok {
		r.setConditionLocked(corev1.PodInitialized, false, "ContainersNotInitialized")
	}
	for _, t := range []corev1.PodConditionType{corev1.PodReadyToStartContainers, corev1.PodInitialized, corev1.PodReady, corev1.ContainersReady, corev1.PodScheduled} {
		if c, ok := r.conditions[t]; ok {
			s.Conditions = append(s.Conditions, c)
		}
	}
	return s
}

func reasonIf(cond bool, reason string) string {
	if cond {
		return reason
	}
	return ""
}
