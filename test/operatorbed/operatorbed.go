// Package operatorbed starts the test bed with the haredis operator
// installed as users install it (kubectl apply -k config/), for end-to-end
// tests and benchmarks of RedisFailovers.
package operatorbed

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/instanceapi"
	"github.com/haredis/haredis/test/bed/cluster"
	"github.com/haredis/haredis/test/controlplane"
)

// Env is a running bed with the operator.
type Env struct {
	Bed    *cluster.Cluster
	Client client.Client
	dir    string
}

// Start builds haredis, starts a bed with the CRD and installs the
// operator with one replica (CPU is scarce on a test machine).
func Start(ctx context.Context, log logr.Logger) (_ *Env, err error) {
	root, err := controlplane.RepoRoot()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "haredis-operatorbed-")
	if err != nil {
		return nil, fmt.Errorf("cannot create a directory: %w", err)
	}
	e := &Env{dir: dir}
	defer func() {
		if err != nil {
			_ = e.Stop()
		}
	}()
	haredis := filepath.Join(dir, "haredis")
	build := exec.CommandContext(ctx, "go", "build", "-o", haredis, "./cmd/haredis")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("cannot build haredis: %w\n%s", err, out)
	}
	e.Bed, err = cluster.Start(ctx, cluster.Options{
		HaredisBinary: haredis, CRDPaths: []string{filepath.Join(root, "config", "crd", "bases")}, Log: log,
	})
	if err != nil {
		return nil, fmt.Errorf("cannot start the bed: %w", err)
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := haredisv1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if e.Client, err = client.New(e.Bed.Config, client.Options{Scheme: scheme}); err != nil {
		return nil, fmt.Errorf("cannot create a client: %w", err)
	}
	for _, args := range [][]string{
		{"apply", "-k", filepath.Join(root, "config")},
		{"-n", "haredis-system", "scale", "deployment/haredis-operator", "--replicas=1"},
		{"-n", "haredis-system", "rollout", "status", "deployment/haredis-operator", "--timeout=180s"},
	} {
		if out, err := e.Kubectl(ctx, args...); err != nil {
			return nil, fmt.Errorf("kubectl %v: %w\n%s", args, err, out)
		}
	}
	return e, nil
}

// Kubectl runs kubectl against the bed.
func (e *Env) Kubectl(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, e.Bed.ControlPlane.KubectlPath, append([]string{"--kubeconfig=" + e.Bed.KubeconfigPath}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// OperatorLog returns the last lines of the operator's log.
func (e *Env) OperatorLog(ctx context.Context, lines int) string {
	out, _ := e.Kubectl(ctx, "-n", "haredis-system", "logs", "deployment/haredis-operator", fmt.Sprintf("--tail=%d", lines))
	return out
}

// Dial reaches Services and pods from inside the bed's network; it fits
// go-redis's and net/http's Dialer fields.
func (e *Env) Dial(ctx context.Context, _, addr string) (net.Conn, error) {
	return e.Bed.Dial(ctx, addr)
}

// Stop stops the bed and removes what Start made.
func (e *Env) Stop() error {
	var err error
	if e.Bed != nil {
		err = e.Bed.Stop()
	}
	os.RemoveAll(e.dir)
	return err
}

// InstanceClient reaches the instance manager at podIP (port 8080) of the
// RedisFailover rf in namespace ns, with the manager token from its
// Secret NAME-internal, through the bed's network.
func (e *Env) InstanceClient(ctx context.Context, ns, rf, podIP string) (*instanceapi.Client, error) {
	s := &corev1.Secret{}
	if err := e.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: rf + "-internal"}, s); err != nil {
		return nil, fmt.Errorf("cannot read the manager token: %w", err)
	}
	return &instanceapi.Client{
		BaseURL: "http://" + net.JoinHostPort(podIP, strconv.Itoa(instanceapi.Port)),
		Token:   string(s.Data[instanceapi.TokenKey]),
		HTTP:    &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DialContext: e.Dial}},
	}, nil
}

// The operator as config/ installs it.
const (
	OperatorNamespace  = "haredis-system"
	OperatorDeployment = "haredis-operator"
	OperatorContainer  = "operator"
)

// OperatorPods returns the operator's pods that are not being deleted.
func (e *Env) OperatorPods(ctx context.Context) ([]corev1.Pod, error) {
	var pods corev1.PodList
	if err := e.Client.List(ctx, &pods, client.InNamespace(OperatorNamespace),
		client.MatchingLabels{"app.kubernetes.io/name": "haredis", "app.kubernetes.io/component": "operator"}); err != nil {
		return nil, err
	}
	var out []corev1.Pod
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out, nil
}

// ScaleOperator sets the operator Deployment's replicas. With n > 0 it
// waits until the rollout is complete (the pods are ready; leader election
// may still take up to a lease duration); with 0 until every operator pod
// is gone.
func (e *Env) ScaleOperator(ctx context.Context, n int32) error {
	if out, err := e.Kubectl(ctx, "-n", OperatorNamespace, "scale", "deployment/"+OperatorDeployment, fmt.Sprintf("--replicas=%d", n)); err != nil {
		return fmt.Errorf("cannot scale the operator to %d: %w\n%s", n, err, out)
	}
	if n > 0 {
		if out, err := e.Kubectl(ctx, "-n", OperatorNamespace, "rollout", "status", "deployment/"+OperatorDeployment, "--timeout=180s"); err != nil {
			return fmt.Errorf("the operator did not come back: %w\n%s", err, out)
		}
		return nil
	}
	for {
		var pods corev1.PodList
		err := e.Client.List(ctx, &pods, client.InNamespace(OperatorNamespace),
			client.MatchingLabels{"app.kubernetes.io/name": "haredis", "app.kubernetes.io/component": "operator"})
		if err == nil && len(pods.Items) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the operator's pods did not go: %w", ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
