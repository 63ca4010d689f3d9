package plugin

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	haredisv1 "github.com/haredis/haredis/api/v1"
)

// ErrNoCRD says the cluster does not serve the RedisFailover resource.
var ErrNoCRD = errors.New("this cluster has no RedisFailover resource: the haredis CRD (redisfailovers.haredis.dev) is not installed; install the operator with `kubectl apply -k config/` from the haredis repository, or check the context (--context) and kubeconfig (--kubeconfig) point at the right cluster")

// GetRF reads RedisFailover ns/name. When it does not exist, the error
// lists the RedisFailovers of the namespace; the cluster without the CRD
// and a refused permission get errors that say so.
func GetRF(ctx context.Context, c client.Reader, ns, name string) (*haredisv1.RedisFailover, error) {
	rf := &haredisv1.RedisFailover{}
	err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, rf)
	switch {
	case err == nil:
		return rf, nil
	case apierrors.IsNotFound(err):
		names, lerr := ListRFNames(ctx, c, ns)
		if lerr != nil {
			return nil, fmt.Errorf("RedisFailover %q not found in namespace %s", name, ns)
		}
		if len(names) == 0 {
			return nil, fmt.Errorf("RedisFailover %q not found in namespace %s, which has none (another namespace? -n NAMESPACE)", name, ns)
		}
		return nil, fmt.Errorf("RedisFailover %q not found in namespace %s; it has %s", name, ns, strings.Join(names, ", "))
	default:
		return nil, explain(err, "get", "redisfailovers", ns, "RedisFailover "+name)
	}
}

// ListRFNames returns the names of the RedisFailovers of namespace ns,
// sorted.
func ListRFNames(ctx context.Context, c client.Reader, ns string) ([]string, error) {
	var list haredisv1.RedisFailoverList
	if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return nil, explain(err, "list", "redisfailovers", ns, "the RedisFailovers")
	}
	names := make([]string, 0, len(list.Items))
	for _, rf := range list.Items {
		names = append(names, rf.Name)
	}
	sort.Strings(names)
	return names, nil
}

// explain turns the errors a user can act on into sentences: the missing
// CRD, and a permission the API server refused (naming the verb and the
// resource). Other errors are wrapped with what was being read.
func explain(err error, verb, resource, ns, what string) error {
	switch {
	case meta.IsNoMatchError(err):
		return ErrNoCRD
	case apierrors.IsForbidden(err):
		return &ForbiddenError{Verb: verb, Resource: resource, Namespace: ns, Err: err}
	default:
		return fmt.Errorf("cannot %s %s: %w", verb, what, err)
	}
}

// ForbiddenError is a request the API server refused for lack of
// permission.
type ForbiddenError struct {
	Verb, Resource, Namespace string
	Err                       error
}

func (e *ForbiddenError) Error() string {
	where, check := "in namespace "+e.Namespace, fmt.Sprintf("kubectl auth can-i %s %s -n %s", e.Verb, e.Resource, e.Namespace)
	if e.Namespace == "" {
		where, check = "at cluster scope", fmt.Sprintf("kubectl auth can-i %s %s", e.Verb, e.Resource)
	}
	return fmt.Sprintf("permission denied: you may not %s %s %s (check with `%s`; a Role or ClusterRole that allows it is needed): %v",
		e.Verb, e.Resource, where, check, e.Err)
}

func (e *ForbiddenError) Unwrap() error { return e.Err }
