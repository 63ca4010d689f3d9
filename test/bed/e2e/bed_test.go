package e2e

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/haredis/haredis/test/bed/cluster"
	"github.com/haredis/haredis/test/bed/fault"
)

// Tests run in the order of this file; the node stop comes last.

func TestDeploymentBehindServiceReachableByClusterIPAndDNS(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	labels := map[string]string{"app": "redis"}
	replicas := int32(2)
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "redis", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{redisContainer()}},
			},
		},
	}
	if _, err := bed.Client.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc, err := bed.Client.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "redis", Namespace: ns},
		Spec:       corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Port: 6379, TargetPort: intstr.FromString("redis")}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	createPod(t, clientPod(ns, "client"))
	waitFor(t, 2*time.Minute, "two ready replicas", func(ctx context.Context) (bool, error) {
		d, err := bed.Client.AppsV1().Deployments(ns).Get(ctx, "redis", metav1.GetOptions{})
		return err == nil && d.Status.ReadyReplicas == 2, nil
	})
	waitFor(t, time.Minute, "client running", func(ctx context.Context) (bool, error) {
		p, err := bed.Client.CoreV1().Pods(ns).Get(ctx, "client", metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.PodRunning, nil
	})
	dnsName := "redis." + ns + ".svc.cluster.local"
	for _, host := range []string{svc.Spec.ClusterIP, dnsName, "redis"} {
		waitFor(t, 30*time.Second, "PING via "+host, func(context.Context) (bool, error) {
			out, err := redisCLI(t, ns, "client", "-h", host, "PING")
			return err == nil && out == "PONG", nil
		})
	}
	// Test code resolves the same name through the bed's DNS.
	addrs, err := bed.Resolver().LookupHost(ctx, dnsName)
	if err != nil || len(addrs) != 1 || addrs[0] != svc.Spec.ClusterIP {
		t.Fatalf("LookupHost(%s) = %v, %v; want [%s]", dnsName, addrs, err, svc.Spec.ClusterIP)
	}
	// And the host reaches the Service through a forward on loopback.
	local, err := bed.Forward(ctx, 0, dnsName+":6379")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := (&netDialer{}).dial(ctx, local)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if got := conn.roundTrip(t, "PING\r\n"); got != "+PONG" {
		t.Fatalf("PING through the forward answered %q", got)
	}
}

func TestKilledContainerRestartsAndCountsIt(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	createPod(t, redisPod(ns, "victim", nil))
	waitReady(t, ns, "victim")
	h, err := bed.Pod(ctx, ns, "victim")
	if err != nil {
		t.Fatal(err)
	}
	oldPID, err := h.PID("redis")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Signal("redis", syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, "restart counted and ready again", func(ctx context.Context) (bool, error) {
		p := getPod(t, ns, "victim")
		s := p.Status.ContainerStatuses
		return len(s) == 1 && s[0].RestartCount == 1 && s[0].Ready &&
			s[0].LastTerminationState.Terminated != nil && s[0].LastTerminationState.Terminated.ExitCode == 137, nil
	})
	newPID, err := h.PID("redis")
	if err != nil || newPID == oldPID {
		t.Fatalf("container PID after restart = %d (%v), before %d", newPID, err, oldPID)
	}
}

func TestDeletedPodStopsGracefully(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	dir := t.TempDir()
	grace := int64(60)
	hostPath := corev1.HostPathDirectory
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "graceful", Namespace: ns},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: &grace,
			Volumes:                       []corev1.Volume{{Name: "out", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: dir, Type: &hostPath}}}},
			Containers: []corev1.Container{{
				Name: "main", Image: "redis:7.0",
				Command:      []string{"sh", "-c", `trap 'echo TERM > /out/signal; exit 0' TERM; echo started > /out/signal; while true; do sleep 0.2; done`},
				VolumeMounts: []corev1.VolumeMount{{Name: "out", MountPath: "/out"}},
			}},
		},
	}
	created := createPod(t, pod)
	waitFor(t, time.Minute, "pod running", func(ctx context.Context) (bool, error) {
		p := getPod(t, ns, "graceful")
		return p.Status.Phase == corev1.PodRunning, nil
	})
	waitFor(t, 30*time.Second, "container started", func(context.Context) (bool, error) {
		data, _ := readFile(dir + "/signal")
		return data == "started", nil
	})
	if err := bed.Client.CoreV1().Pods(ns).Delete(ctx, "graceful", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// The process handles SIGTERM and exits at once, so the pod object goes
	// long before the 60 s grace period: the kubelet deletes it once the
	// processes are gone.
	waitFor(t, 30*time.Second, "pod object removed", func(ctx context.Context) (bool, error) {
		p, err := bed.Client.CoreV1().Pods(ns).Get(ctx, "graceful", metav1.GetOptions{})
		return apierrors.IsNotFound(err) || (err == nil && p.UID != created.UID), nil
	})
	if data, _ := readFile(dir + "/signal"); data != "TERM" {
		t.Fatalf("the container saw %q, want TERM", data)
	}
}

// TestForceDeletedPodCreatedAgainAtOnceRuns: a pod force-deleted and created
// again under the same name at once (what a controller does after
// `kubectl delete --force`) runs as a new pod, as on a kubelet, and the old
// pod's processes stop.
func TestForceDeletedPodCreatedAgainAtOnceRuns(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	old := createPod(t, redisPod(ns, "twin", nil))
	waitReady(t, ns, "twin")
	h, err := bed.Pod(ctx, ns, "twin")
	if err != nil {
		t.Fatal(err)
	}
	oldPID, err := h.PID("redis")
	if err != nil {
		t.Fatal(err)
	}
	for round := range 3 {
		if err := bed.Client.CoreV1().Pods(ns).Delete(ctx, "twin", metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
			t.Fatal(err)
		}
		created := createPod(t, redisPod(ns, "twin", nil))
		if created.UID == old.UID {
			t.Fatalf("round %d: the new pod has the old UID", round)
		}
		waitFor(t, time.Minute, "the new pod ready", func(ctx context.Context) (bool, error) {
			p := getPod(t, ns, "twin")
			if p.UID != created.UID || p.Status.PodIP == "" {
				return false, nil
			}
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady {
					return c.Status == corev1.ConditionTrue, nil
				}
			}
			return false, nil
		})
		waitFor(t, time.Minute, "the old pod's redis-server gone", func(context.Context) (bool, error) {
			return syscall.Kill(oldPID, 0) != nil, nil
		})
		if h, err = bed.Pod(ctx, ns, "twin"); err != nil {
			t.Fatal(err)
		}
		if oldPID, err = h.PID("redis"); err != nil {
			t.Fatal(err)
		}
		old = created
	}
}

func TestInitContainerCopiesHaredisIntoEmptyDirAndEnvResolves(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	if _, err := bed.Client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "auth", Namespace: ns}, StringData: map[string]string{"password": "s3cret"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := bed.Client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "conf", Namespace: ns}, Data: map[string]string{"redis.conf": "maxmemory 10mb\n"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "operator-pattern", Namespace: ns},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Volumes: []corev1.Volume{
				{Name: "bin", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "conf", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "conf"}}}},
			},
			InitContainers: []corev1.Container{{
				Name: "copy-haredis", Image: "haredis/haredis:dev",
				Command:      []string{"cp", "/usr/local/bin/haredis", "/haredis/haredis"},
				VolumeMounts: []corev1.VolumeMount{{Name: "bin", MountPath: "/haredis"}},
			}},
			Containers: []corev1.Container{{
				Name: "main", Image: "redis:7.0",
				Command: []string{"sh", "-c", `/haredis/haredis --help >/dev/null && echo haredis-ok; echo "ip=$POD_IP pw=$PASSWORD conf=$(cat /etc/redis/redis.conf) name=$NAME"; test -s /var/run/secrets/kubernetes.io/serviceaccount/token && echo token-ok`},
				Env: []corev1.EnvVar{
					{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
					{Name: "PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "auth"}, Key: "password"}}},
					{Name: "NAME", Value: "$(POD_IP)-x"},
				},
				VolumeMounts: []corev1.VolumeMount{{Name: "bin", MountPath: "/haredis"}, {Name: "conf", MountPath: "/etc/redis"}},
			}},
		},
	}
	createPod(t, pod)
	waitFor(t, time.Minute, "pod succeeded", func(context.Context) (bool, error) {
		p := getPod(t, ns, "operator-pattern")
		if p.Status.Phase == corev1.PodFailed {
			logs, _ := bed.Client.CoreV1().Pods(ns).GetLogs("operator-pattern", &corev1.PodLogOptions{Container: "main"}).DoRaw(context.Background())
			t.Fatalf("pod failed; its log: %s", logs)
		}
		return p.Status.Phase == corev1.PodSucceeded, nil
	})
	p := getPod(t, ns, "operator-pattern")
	logs, err := bed.Client.CoreV1().Pods(ns).GetLogs("operator-pattern", &corev1.PodLogOptions{Container: "main"}).DoRaw(ctx)
	if err != nil {
		t.Fatalf("cannot read logs through the API server: %v", err)
	}
	want := "haredis-ok\nip=" + p.Status.PodIP + " pw=s3cret conf=maxmemory 10mb name=" + p.Status.PodIP + "-x\ntoken-ok\n"
	if string(logs) != want {
		t.Fatalf("logs = %q, want %q", logs, want)
	}
}

func TestUnknownImageAndUnhonouredTagWaitWithAReason(t *testing.T) {
	ns := namespace(t)
	for name, image := range map[string]string{"unknown": "nginx:1.27", "newer-redis": "redis:7.2"} {
		pod := redisPod(ns, name, nil)
		pod.Spec.Containers[0].Image = image
		createPod(t, pod)
	}
	for _, name := range []string{"unknown", "newer-redis"} {
		waitFor(t, 30*time.Second, name+" waits with ErrImagePull", func(context.Context) (bool, error) {
			s := getPod(t, ns, name).Status.ContainerStatuses
			return len(s) == 1 && s[0].State.Waiting != nil && s[0].State.Waiting.Reason == "ErrImagePull", nil
		})
	}
}

func TestGrownPVCShowsNewSizeInsideRunningPod(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: ns},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("64Mi")}},
		},
	}
	if _, err := bed.Client.CoreV1().PersistentVolumeClaims(ns).Create(ctx, pvc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := redisPod(ns, "redis", nil)
	pod.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}}
	pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
	createPod(t, pod)
	waitReady(t, ns, "redis")
	h, err := bed.Pod(ctx, ns, "redis")
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := h.PID("redis")
	before := dfKiB(t, ns, "redis", "/data")
	patch := []byte(`{"spec":{"resources":{"requests":{"storage":"160Mi"}}}}`)
	if _, err := bed.Client.CoreV1().PersistentVolumeClaims(ns).Patch(ctx, "data", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, "PVC and PV capacity 160Mi", func(ctx context.Context) (bool, error) {
		c, err := bed.Client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "data", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		got := c.Status.Capacity[corev1.ResourceStorage]
		pv, err := bed.Client.CoreV1().PersistentVolumes().Get(ctx, c.Spec.VolumeName, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		pvSize := pv.Spec.Capacity[corev1.ResourceStorage]
		return got.Cmp(resource.MustParse("160Mi")) == 0 && pvSize.Cmp(resource.MustParse("160Mi")) == 0, nil
	})
	after := dfKiB(t, ns, "redis", "/data")
	if after < before*2 {
		t.Fatalf("inside the pod /data has %d KiB after growing, %d KiB before", after, before)
	}
	p := getPod(t, ns, "redis")
	newPID, _ := h.PID("redis")
	if newPID != pid || p.Status.ContainerStatuses[0].RestartCount != 0 {
		t.Fatalf("the pod restarted: pid %d -> %d, restarts %d", pid, newPID, p.Status.ContainerStatuses[0].RestartCount)
	}
}

func dfKiB(t *testing.T, ns, pod, path string) int {
	t.Helper()
	out, _, code, err := bed.Exec(context.Background(), ns, pod, "", "df", "-k", "--output=size", path)
	if err != nil || code != 0 {
		t.Fatalf("df in pod: %v (exit %d): %s", err, code, out)
	}
	lines := strings.Fields(out)
	n, err := strconv.Atoi(lines[len(lines)-1])
	if err != nil {
		t.Fatalf("df output %q: %v", out, err)
	}
	return n
}

func TestHeadlessServiceGivesPodsStableDNSNames(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	labels := map[string]string{"app": "hl"}
	if _, err := bed.Client.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "app-hl", Namespace: ns},
		Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: labels, PublishNotReadyAddresses: true,
			Ports: []corev1.ServicePort{{Port: 6379}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := redisPod(ns, "app-1", labels)
	pod.Spec.Hostname, pod.Spec.Subdomain = "app-1", "app-hl"
	createPod(t, pod)
	createPod(t, clientPod(ns, "client"))
	waitReady(t, ns, "app-1")
	waitReady(t, ns, "client")
	ip := getPod(t, ns, "app-1").Status.PodIP
	name := "app-1.app-hl." + ns + ".svc.cluster.local"
	waitFor(t, 30*time.Second, "pod name resolves", func(ctx context.Context) (bool, error) {
		addrs, err := bed.Resolver().LookupHost(ctx, name)
		return err == nil && len(addrs) == 1 && addrs[0] == ip, nil
	})
	if out, err := redisCLI(t, ns, "client", "-h", name, "PING"); err != nil || out != "PONG" {
		t.Fatalf("PING %s from a pod: %q %v", name, out, err)
	}
	// The pod knows its own FQDN, as Redis announce-hostnames needs.
	out, _, code, err := bed.Exec(ctx, ns, "app-1", "redis", "hostname", "-f")
	if err != nil || code != 0 || strings.TrimSpace(out) != name {
		t.Fatalf("hostname -f = %q (exit %d, %v), want %s", out, code, err, name)
	}
}

func TestFailingLivenessProbeRestartsContainer(t *testing.T) {
	ns := namespace(t)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "sick", Namespace: ns},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "main", Image: "redis:7.0",
			// Healthy for a moment, then the probe's file goes away.
			Command: []string{"sh", "-c", "touch /tmp/healthy; sleep 2; rm /tmp/healthy; sleep 3600"},
			LivenessProbe: &corev1.Probe{
				ProbeHandler:  corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"test", "-f", "/tmp/healthy"}}},
				PeriodSeconds: 1, FailureThreshold: 2,
			},
		}}},
	}
	createPod(t, pod)
	waitFor(t, time.Minute, "liveness restart counted", func(context.Context) (bool, error) {
		s := getPod(t, ns, "sick").Status.ContainerStatuses
		return len(s) == 1 && s[0].RestartCount >= 1, nil
	})
}

func TestCutOffPodIsUnreachableUntilRestored(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	createPod(t, redisPod(ns, "server", nil))
	createPod(t, clientPod(ns, "client"))
	waitReady(t, ns, "server")
	waitReady(t, ns, "client")
	ip := getPod(t, ns, "server").Status.PodIP
	if out, err := redisCLI(t, ns, "client", "-h", ip, "PING"); err != nil || out != "PONG" {
		t.Fatalf("before the cut: %q %v", out, err)
	}
	restore, err := fault.New(bed).CutOff(ctx, ns, "server")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := redisCLI(t, ns, "client", "-h", ip, "PING"); err == nil {
		t.Fatalf("a cut-off pod answered %q", out)
	}
	if err := restore(ctx); err != nil {
		t.Fatal(err)
	}
	// Each attempt is an exec of redis-cli with a 3 s timeout; on a
	// machine shared with other test packages one can take several
	// seconds, so the deadline leaves room for a few of them.
	var last string
	attempts := 0
	if err := cluster.WaitFor(ctx, 60*time.Second, func(context.Context) (bool, error) {
		attempts++
		out, err := redisCLI(t, ns, "client", "-h", ip, "PING")
		last = fmt.Sprintf("%q %v", out, err)
		return err == nil && out == "PONG", nil
	}); err != nil {
		t.Fatalf("not reachable again after %d attempts (last: %s): %v; the server pod: %+v", attempts, last, err, getPod(t, ns, "server").Status)
	}
}

func TestStoppedNodeTurnsNotReadyAndComesBack(t *testing.T) {
	ctx := context.Background()
	nodes := bed.Nodes()
	name := nodes[len(nodes)-1].Name
	f := fault.New(bed)
	if err := f.StopNode(ctx, name, true); err != nil {
		t.Fatal(err)
	}
	if err := f.StartNode(ctx, name); err != nil {
		t.Fatal(err)
	}
}

// A pod status that someone else overwrote (the node lifecycle controller
// marks every pod of a node NotReady when its heartbeat is late) is put back
// by the node, as a kubelet's status manager does, even though nothing
// changed inside the pod.
func TestPodMarkedNotReadyByOthersIsReadyAgain(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	createPod(t, redisPod(ns, "steady", nil))
	waitReady(t, ns, "steady")
	p := getPod(t, ns, "steady")
	for i, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			p.Status.Conditions[i].Status = corev1.ConditionFalse
			p.Status.Conditions[i].Reason = "NodeNotReady"
		}
	}
	written, err := bed.Client.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if podReady(written) {
		t.Fatal("the status written as NotReady reads back Ready")
	}
	waitFor(t, 30*time.Second, "the pod marked Ready again by its node", func(context.Context) (bool, error) {
		return podReady(getPod(t, ns, "steady")), nil
	})
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
