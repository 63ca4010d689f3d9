package plugin

import (
	"context"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	haredisv1 "github.com/haredis/haredis/api/v1"
)

// CompleteRF lists the RedisFailovers of ns that start with prefix, for
// shell completion; errors give no candidates.
func CompleteRF(ctx context.Context, c client.Reader, ns, prefix string) []string {
	names, err := ListRFNames(ctx, c, ns)
	if err != nil {
		return nil
	}
	return withPrefix(names, prefix)
}

// CompleteInstance lists the instances of RedisFailover ns/name that
// start with prefix; replicasOnly leaves the current primary out (the
// targets of a switchover).
func CompleteInstance(ctx context.Context, c client.Reader, ns, name, prefix string, replicasOnly bool) []string {
	rf, err := GetRF(ctx, c, ns, name)
	if err != nil {
		return nil
	}
	var names []string
	for _, is := range rf.Status.Instances {
		if replicasOnly && is.Name == rf.Status.CurrentPrimary {
			continue
		}
		names = append(names, is.Name)
	}
	return withPrefix(names, prefix)
}

// CompleteNamespace lists the namespaces that start with prefix.
func CompleteNamespace(ctx context.Context, c client.Reader, prefix string) []string {
	var list corev1.NamespaceList
	if err := c.List(ctx, &list); err != nil {
		return nil
	}
	var names []string
	for _, ns := range list.Items {
		names = append(names, ns.Name)
	}
	return withPrefix(names, prefix)
}

func withPrefix(names []string, prefix string) []string {
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	return out
}

// CompleteBackup lists the completed RedisBackups of ns that start with
// prefix (the ones a restore takes).
func CompleteBackup(ctx context.Context, c client.Reader, ns, prefix string) []string {
	var list haredisv1.RedisBackupList
	if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return nil
	}
	var names []string
	for _, b := range list.Items {
		if b.Status.Phase == haredisv1.BackupCompleted {
			names = append(names, b.Name)
		}
	}
	return withPrefix(names, prefix)
}
