package plugin

import (
	"context"
	"errors"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	haredisv1 "github.com/haredis/haredis/api/v1"
)

func TestUnknownRFListsTheOthers(t *testing.T) {
	other := readyRF()
	other.Name = "cache"
	c := fakeClient(t, readyRF(), other)
	_, err := GetRF(ctx, c, "shop", "ap")
	if err == nil || err.Error() != `RedisFailover "ap" not found in namespace shop; it has app, cache` {
		t.Errorf("got %v", err)
	}
	_, err = GetRF(ctx, c, "empty", "app")
	if err == nil || !strings.Contains(err.Error(), "which has none") {
		t.Errorf("got %v", err)
	}
}

// Without a primary, url and sentinel-url quote the condition that says
// why; with one that does not take writes, they warn.
func TestNoPrimary(t *testing.T) {
	rf := readyRF()
	rf.Status = haredisv1.RedisFailoverStatus{}
	c := fakeClient(t, rf)
	_, _, err := run(t, func(io genericiooptions.IOStreams) error { return URL(ctx, c, io, "shop", "app", URLOptions{}) })
	if err == nil || !strings.Contains(err.Error(), "has no primary yet: the operator has not reported on it") {
		t.Errorf("no status: %v", err)
	}
	rf.Status.CurrentPrimary = "app-1"
	rf.Status.Conditions = []metav1.Condition{{Type: haredisv1.ConditionReady, Status: metav1.ConditionFalse, Reason: haredisv1.ReasonPrimaryWaiting, Message: "app-1 waits for app-2"}}
	c = fakeClient(t, rf)
	_, _, err = run(t, func(io genericiooptions.IOStreams) error {
		return SentinelURL(ctx, c, io, "shop", "app", SentinelURLOptions{Format: "go-redis"})
	})
	if err == nil || !strings.Contains(err.Error(), "Ready=False (PrimaryWaiting): app-1 waits for app-2") {
		t.Errorf("waiting, no endpoints: %v", err)
	}
	c = fakeClient(t, cluster(waitingRF())...)
	_, errOut, err := run(t, func(io genericiooptions.IOStreams) error {
		return SentinelURL(ctx, c, io, "shop", "app", SentinelURLOptions{Format: "go-redis"})
	})
	if err != nil || !strings.Contains(errOut, "warning: RedisFailover app has no primary that takes writes yet: Ready=False (PrimaryWaiting)") {
		t.Errorf("waiting with endpoints: %v, %q", err, errOut)
	}
	if err := NoPrimary(readyRF()); err != nil {
		t.Errorf("ready: %v", err)
	}
}

// A cluster without the CRD, and a refused permission, say so (the bed's
// end-to-end test checks the refusal against a real API server).
func TestClusterErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		err  error
		want string
	}{
		"no CRD": {&meta.NoKindMatchError{GroupKind: schema.GroupKind{Group: "haredis.dev", Kind: "RedisFailover"}},
			"this cluster has no RedisFailover resource"},
		"forbidden": {apierrors.NewForbidden(schema.GroupResource{Group: "haredis.dev", Resource: "redisfailovers"}, "app", errors.New("RBAC")),
			"permission denied: you may not get redisfailovers in namespace shop (check with `kubectl auth can-i get redisfailovers -n shop`"},
	} {
		c := interceptor.NewClient(fakeClient(t, readyRF()).(client.WithWatch), interceptor.Funcs{
			Get: func(context.Context, client.WithWatch, client.ObjectKey, client.Object, ...client.GetOption) error {
				return tc.err
			},
		})
		if _, err := GetRF(ctx, c, "shop", "app"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}
