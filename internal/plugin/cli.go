package plugin

import (
	"context"
	"fmt"
	"github.com/haredis/haredis/internal/certs"
	"io"
	"net/url"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/streaming/pkg/httpstream"
	"sigs.k8s.io/controller-runtime/pkg/client"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/specs"
)

// CLIOptions says where `cli` runs redis-cli and what it passes on.
type CLIOptions struct {
	// Instance is the instance to talk to; "" is the primary.
	Instance string
	// Proxy talks to the proxies' Service (REDIS_URL) instead.
	Proxy bool
	// Args go to redis-cli as they are (after --).
	Args []string
	// TTY allocates a terminal: set when stdin is one.
	TTY bool
}

// CLITarget is where redis-cli runs and what it runs.
type CLITarget struct {
	Pod, Container string
	// Command is the command run in the container: a shell that reads the
	// password from the pod's own file into REDISCLI_AUTH, so that it is
	// never on a command line (neither the user's nor the pod's), then
	// starts redis-cli (or valkey-cli) with the user's arguments.
	Command []string
}

// cliScript starts redis-cli with the password of the mounted file, when
// there is one. Valkey's cli reads VALKEYCLI_AUTH, older ones
// REDISCLI_AUTH: both are set.
const cliScript = `f=` + specs.AuthDir + `/` + specs.PasswordKey + `
if [ -r "$f" ]; then p=$(cat "$f"); export REDISCLI_AUTH="$p" VALKEYCLI_AUTH="$p"; unset p; fi
cli=$(command -v redis-cli || command -v valkey-cli) || { echo "the image has neither redis-cli nor valkey-cli" >&2; exit 127; }
exec "$cli" "$@"`

// PlanCLI chooses the pod to run redis-cli in for RedisFailover ns/name:
// the primary's (or the instance's) Redis container, which has redis-cli
// and the password file. With Proxy it runs there too but connects to the
// proxies' Service.
func PlanCLI(ctx context.Context, c client.Reader, ns, name string, o CLIOptions) (*CLITarget, error) {
	rf, err := GetRF(ctx, c, ns, name)
	if err != nil {
		return nil, err
	}
	if err := NoPrimary(rf); err != nil && Hibernated(rf) {
		return nil, fmt.Errorf("%w (kubectl haredis hibernate off %s wakes it)", err, name)
	}
	inst := o.Instance
	if inst == "" {
		if rf.Status.CurrentPrimary == "" {
			return nil, NoPrimary(rf)
		}
		inst = rf.Status.CurrentPrimary
	} else if !isInstance(rf.Status.Instances, inst) {
		return nil, fmt.Errorf("%s is not an instance of RedisFailover %s; it has %s", inst, name, instanceNames(rf.Status.Instances))
	}
	pod := &corev1.Pod{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: inst}, pod); err != nil {
		return nil, explain(err, "get", "pods", ns, "pod "+inst)
	}
	if pod.Status.Phase != corev1.PodRunning || pod.DeletionTimestamp != nil {
		return nil, fmt.Errorf("the pod of %s is not running (phase %s); see kubectl haredis status %s", inst, pod.Status.Phase, name)
	}
	args := []string{"-p", strconv.Itoa(specs.RedisPort)}
	if o.Proxy {
		if !rf.ProxyEnabled() {
			return nil, fmt.Errorf("RedisFailover %s has no proxy (spec.proxy.enabled is false); leave out --proxy to talk to the primary", name)
		}
		conn, err := connectionOf(rf)
		if err != nil {
			return nil, err
		}
		u, err := url.Parse(conn.RedisURL)
		if err != nil {
			return nil, fmt.Errorf("cannot read REDIS_URL %q of the status: %w", conn.RedisURL, err)
		}
		args = []string{"-h", u.Hostname(), "-p", u.Port()}
	}
	if rf.TLSEnabled() {
		// The pod mounts the CA; redis-cli verifies the chain.
		args = append(args, "--tls", "--cacert", certs.MountDir+"/"+certs.CAKey)
	}
	return &CLITarget{
		Pod: inst, Container: "redis",
		Command: append(append([]string{"sh", "-c", cliScript, "redis-cli"}, args...), o.Args...),
	}, nil
}

// RunCLI runs t in its pod through the API server's exec, with the given
// streams: interactive when tty is set (the caller puts its terminal in
// raw mode).
func RunCLI(ctx context.Context, cfg *rest.Config, ns string, t *CLITarget, tty bool, in io.Reader, out, errOut io.Writer) error {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("cannot create a client of %s: %w", cfg.Host, err)
	}
	req := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(t.Pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{
			Container: t.Container, Command: t.Command,
			Stdin: in != nil, Stdout: true, Stderr: !tty, TTY: tty,
		}, scheme.ParameterCodec)
	ws, err := remotecommand.NewWebSocketExecutor(cfg, "GET", req.URL().String())
	if err != nil {
		return fmt.Errorf("cannot exec in pod %s: %w", t.Pod, err)
	}
	spdy, err := remotecommand.NewSPDYExecutor(cfg, "POST", req.URL())
	if err != nil {
		return fmt.Errorf("cannot exec in pod %s: %w", t.Pod, err)
	}
	exec, err := remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	if err != nil {
		return fmt.Errorf("cannot exec in pod %s: %w", t.Pod, err)
	}
	so := remotecommand.StreamOptions{Stdin: in, Stdout: out, Tty: tty}
	if !tty {
		so.Stderr = errOut
	}
	if err := exec.StreamWithContext(ctx, so); err != nil {
		return fmt.Errorf("redis-cli in pod %s: %w", t.Pod, explainExec(err, ns))
	}
	return nil
}

// explainExec names the permission an exec needs when it was refused.
func explainExec(err error, ns string) error {
	if err != nil && strings.Contains(strings.ToLower(err.Error()), "forbidden") {
		return &ForbiddenError{Verb: "create", Resource: "pods/exec", Namespace: ns, Err: err}
	}
	return err
}

// isInstance tells whether name is one of the instances in the status.
func isInstance(instances []haredisv1.InstanceStatus, name string) bool {
	for _, is := range instances {
		if is.Name == name {
			return true
		}
	}
	return false
}

// instanceNames lists the instances in the status for an error message.
func instanceNames(instances []haredisv1.InstanceStatus) string {
	if len(instances) == 0 {
		return "none yet"
	}
	names := make([]string, len(instances))
	for i, is := range instances {
		names[i] = is.Name
	}
	return strings.Join(names, ", ")
}
