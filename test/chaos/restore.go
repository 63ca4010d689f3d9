package chaos

import (
	"context"
	"fmt"
	"net"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/specs"
	"github.com/haredis/haredis/test/bed/cluster"
)

// RestoreStore is the S3-compatible store the "restore and compare" step
// backs up to: its endpoint as the pods reach it, a bucket and keys.
type RestoreStore struct {
	Endpoint, Bucket          string
	AccessKeyID, SecretAccess string
}

// restoreTimeout bounds the whole step: a backup of a few thousand keys and
// a new RedisFailover of three instances.
const restoreTimeout = 6 * time.Minute

// restoreAndCompare is the sequence's last step when Options.Restore is
// set: a RedisBackup of the RedisFailover taken under the writers' load
// after everything the sequence did to it, restored into a new
// RedisFailover, which must hold every write acknowledged before the backup
// was asked for (and not lost by an unplanned fault before). The restored
// RedisFailover is deleted after the comparison.
func (r *runner) restoreAndCompare(ctx context.Context, store *RestoreStore) {
	ctx, cancel := context.WithTimeout(ctx, restoreTimeout)
	defer cancel()
	if err := r.restoreCompare(ctx, store); err != nil {
		r.res.Restore = "failed: " + err.Error()
		r.res.Violations = append(r.res.Violations, "restore and compare: "+err.Error())
		return
	}
}

func (r *runner) restoreCompare(ctx context.Context, store *RestoreStore) error {
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: r.ns, Name: "chaos-store"}, StringData: map[string]string{
		haredisv1.CredentialsAccessKeyID: store.AccessKeyID, haredisv1.CredentialsSecretAccessKey: store.SecretAccess}}
	if err := r.kc.Create(ctx, secret); err != nil {
		return fmt.Errorf("cannot create the store's Secret: %w", err)
	}
	objStore := &haredisv1.ObjectStore{Endpoint: store.Endpoint, Bucket: store.Bucket, Prefix: "chaos",
		CredentialsSecret: &haredisv1.LocalObjectReference{Name: secret.Name}}
	// What the backup must hold: every write acknowledged before it is
	// asked for, but those an unplanned fault of the sequence lost.
	asked := time.Now()
	want := map[*writer][]ack{r.sw: r.sw.snapshot(), r.uw: r.uw.snapshot()}
	rb := &haredisv1.RedisBackup{ObjectMeta: metav1.ObjectMeta{Namespace: r.ns, Name: "chaos-backup"},
		Spec: haredisv1.RedisBackupSpec{Failover: haredisv1.LocalObjectReference{Name: r.name}, ObjectStore: objStore}}
	if err := r.kc.Create(ctx, rb); err != nil {
		return fmt.Errorf("cannot create the RedisBackup: %w", err)
	}
	if err := cluster.WaitFor(ctx, restoreTimeout, func(ctx context.Context) (bool, error) {
		if err := r.kc.Get(ctx, client.ObjectKeyFromObject(rb), rb); err != nil {
			return false, nil
		}
		if rb.Status.Phase == haredisv1.BackupFailed {
			c := meta.FindStatusCondition(rb.Status.Conditions, haredisv1.ConditionBackupCompleted)
			return false, fmt.Errorf("the backup failed: %+v", c)
		}
		return rb.Status.Phase == haredisv1.BackupCompleted, nil
	}); err != nil {
		return fmt.Errorf("backup: %w (phase %s)", err, rb.Status.Phase)
	}
	took := time.Since(asked)
	restored := &haredisv1.RedisFailover{ObjectMeta: metav1.ObjectMeta{Namespace: r.ns, Name: "restored"},
		Spec: haredisv1.RedisFailoverSpec{Bootstrap: &haredisv1.BootstrapSpec{FromBackup: &haredisv1.LocalObjectReference{Name: rb.Name}}}}
	restored.Spec.Redis.Persistence = haredisv1.PersistenceMode(r.plan.Persistence)
	if err := r.kc.Create(ctx, restored); err != nil {
		return fmt.Errorf("cannot create the restored RedisFailover: %w", err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = r.kc.Delete(dctx, restored)
	}()
	if err := cluster.WaitFor(ctx, restoreTimeout, func(ctx context.Context) (bool, error) {
		if err := r.kc.Get(ctx, client.ObjectKeyFromObject(restored), restored); err != nil {
			return false, nil
		}
		c := meta.FindStatusCondition(restored.Status.Conditions, haredisv1.ConditionReady)
		return c != nil && c.Status == metav1.ConditionTrue && restored.Status.CurrentPrimary != "", nil
	}); err != nil {
		return fmt.Errorf("the restored RedisFailover is not Ready: %w (phase %s)", err, restored.Status.Phase)
	}
	pw := &corev1.Secret{}
	if err := r.kc.Get(ctx, client.ObjectKey{Namespace: r.ns, Name: restored.AuthSecretName()}, pw); err != nil {
		return fmt.Errorf("cannot read the restored RedisFailover's password: %w", err)
	}
	p, err := r.pod(ctx, restored.Status.CurrentPrimary)
	if err != nil {
		return err
	}
	c := r.plainClientWith(net.JoinHostPort(p.Status.PodIP, "6379"), string(pw.Data[specs.PasswordKey]))
	defer c.Close()
	total, missing := 0, 0
	for w, acks := range want {
		total += len(acks)
		m, err := w.missing(ctx, c, acks, r.lost)
		if err != nil {
			return err
		}
		missing += len(m)
	}
	r.res.Restore = fmt.Sprintf("backup of %d keys from %s (%s) in %.1fs, restored Ready; %d acknowledged writes compared, %d missing",
		rb.Status.Keys, rb.Status.Source, rb.Status.SourceRole, took.Seconds(), total, missing)
	r.logf("chaos: restore and compare: %s", r.res.Restore)
	if missing > 0 {
		return fmt.Errorf("the restored copy misses %d of the %d writes acknowledged before the backup was asked for", missing, total)
	}
	return nil
}
