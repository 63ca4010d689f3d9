// Package benchrf gives the benchmarks that measure a RedisFailover on the
// operator's test bed (test/operatorbed) what each of them does to it:
// create one that runs an engine's image in a namespace of its own and wait
// until it is Ready, wait for Ready again, read its password, say what its
// instances run, and delete it.
package benchrf

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/hack/bench/internal/benchengine"
	"github.com/haredis/haredis/internal/redistest"
	"github.com/haredis/haredis/test/operatorbed"
)

// Name is the name of a benchmark's RedisFailover, the only one of its
// namespace.
const Name = "app"

// Create creates the namespace ns and in it the RedisFailover Name running
// e's image, changed by mutate (nil: the API's defaults), waits until it is
// Ready and checks that every instance reports that it runs e.
func Create(ctx context.Context, env *operatorbed.Env, ns string, e benchengine.Engine, mutate func(*haredisv1.RedisFailover)) (*haredisv1.RedisFailover, error) {
	if out, err := env.Kubectl(ctx, "create", "namespace", ns); err != nil {
		return nil, fmt.Errorf("cannot create the namespace %s: %w\n%s", ns, err, out)
	}
	rf := &haredisv1.RedisFailover{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: Name}}
	rf.Spec.Redis.Image = e.Image
	if mutate != nil {
		mutate(rf)
	}
	if err := env.Client.Create(ctx, rf); err != nil {
		return nil, fmt.Errorf("cannot create the %s RedisFailover: %w", e.Name, err)
	}
	rf, err := WaitReady(ctx, env.Client, ns, 5*time.Minute, nil)
	if err != nil {
		return nil, fmt.Errorf("the %s RedisFailover did not become Ready: %w", e.Name, err)
	}
	for _, is := range rf.Status.Instances {
		if !strings.HasPrefix(is.Server, string(e.Name)+" ") {
			return nil, fmt.Errorf("instance %s of the RedisFailover with image %s runs %q, not %s", is.Name, e.Image, is.Server, e.Name)
		}
	}
	return rf, nil
}

// WaitReady waits up to timeout until the RedisFailover Name in ns has its
// Ready condition True with every instance ready and cond (nil: none)
// holds; it returns the RedisFailover as it read it then. cond sees every
// read, Ready or not.
func WaitReady(ctx context.Context, c client.Client, ns string, timeout time.Duration, cond func(*haredisv1.RedisFailover) error) (*haredisv1.RedisFailover, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var got *haredisv1.RedisFailover
	err := redistest.Wait(ctx, 100*time.Millisecond, func() error {
		rf, err := Get(ctx, c, ns)
		if err != nil {
			return err
		}
		if cond != nil {
			if err := cond(rf); err != nil {
				return err
			}
		}
		if !meta.IsStatusConditionTrue(rf.Status.Conditions, haredisv1.ConditionReady) || rf.Status.ReadyInstances != rf.Spec.Redis.Replicas {
			return fmt.Errorf("phase %s, %d of %d instances ready", rf.Status.Phase, rf.Status.ReadyInstances, rf.Spec.Redis.Replicas)
		}
		got = rf
		return nil
	})
	return got, err
}

// Get reads the RedisFailover Name in ns.
func Get(ctx context.Context, c client.Client, ns string) (*haredisv1.RedisFailover, error) {
	rf := &haredisv1.RedisFailover{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: Name}, rf); err != nil {
		return nil, err
	}
	return rf, nil
}

// Password reads the RedisFailover's password from its Secret NAME-auth.
func Password(ctx context.Context, c client.Client, ns string) (string, error) {
	s := &corev1.Secret{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: Name + "-auth"}, s); err != nil {
		return "", fmt.Errorf("cannot read the password: %w", err)
	}
	pw := string(s.Data["password"])
	if pw == "" {
		return "", errors.New("the Secret " + Name + "-auth holds no password")
	}
	return pw, nil
}

// Servers is what rf's instances report they run
// (status.instances[].server), "valkey 8.0.1" when they agree.
func Servers(rf *haredisv1.RedisFailover) string {
	seen := map[string]bool{}
	var out []string
	for _, is := range rf.Status.Instances {
		if !seen[is.Server] {
			seen[is.Server] = true
			out = append(out, is.Server)
		}
	}
	return strings.Join(out, ", ")
}

// Delete deletes the RedisFailover Name in ns and waits until every pod of
// the namespace is gone, so that the next benchmark's RedisFailover shares
// the bed with nothing else.
func Delete(ctx context.Context, c client.Client, ns string) error {
	if err := c.Delete(ctx, &haredisv1.RedisFailover{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: Name}}); err != nil {
		return fmt.Errorf("cannot delete the RedisFailover %s/%s: %w", ns, Name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	err := redistest.Wait(ctx, 500*time.Millisecond, func() error {
		var pods corev1.PodList
		if err := c.List(ctx, &pods, client.InNamespace(ns)); err != nil {
			return err
		}
		if len(pods.Items) > 0 {
			return fmt.Errorf("%d pods left", len(pods.Items))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("the pods of the deleted RedisFailover %s/%s are not gone: %w", ns, Name, err)
	}
	return nil
}
