package controller

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	haredisv1 "github.com/haredis/haredis/api/v1"
)

// storeSecretData reads the credentials Secret of an object store in ns
// through reader (the user's Secret is not in the operator's cache); nil
// data when the store names none (the web identity). A missing Secret is a
// wait with reason, naming the keys to create.
func storeSecretData(ctx context.Context, reader client.Reader, ns string, ref *haredisv1.LocalObjectReference, reason string) (map[string][]byte, error) {
	if ref == nil {
		return nil, nil
	}
	sec := &corev1.Secret{}
	if err := reader.Get(ctx, types.NamespacedName{Namespace: ns, Name: ref.Name}, sec); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, wait(reason, "the credentials Secret %s of the object store does not exist in namespace %s: create it with the keys %s and %s",
				ref.Name, ns, haredisv1.CredentialsAccessKeyID, haredisv1.CredentialsSecretAccessKey)
		}
		return nil, fmt.Errorf("cannot get the credentials Secret %s: %w", ref.Name, err)
	}
	return sec.Data, nil
}
