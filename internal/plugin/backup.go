package plugin

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	haredisv1 "github.com/haredis/haredis/api/v1"
)

// BackupName is the default name of a backup of rf taken at t.
func BackupName(rf string, t time.Time) string {
	return fmt.Sprintf("%s-%s", rf, t.UTC().Format("20060102-150405"))
}

// Backup creates the RedisBackup backupName of RedisFailover ns/rfName and,
// unless wait is zero, waits until it completes or fails and prints what
// it holds. It fails when the backup failed or did not end within wait.
func Backup(ctx context.Context, c client.Client, out io.Writer, ns, rfName, backupName string, wait time.Duration) error {
	rf, err := GetRF(ctx, c, ns, rfName)
	if err != nil {
		return err
	}
	if rf.Spec.Backup == nil {
		return fmt.Errorf("RedisFailover %s has no spec.backup.objectStore: set it (see docs/backup.md), or create a RedisBackup with its own spec.objectStore", rfName)
	}
	rb := &haredisv1.RedisBackup{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: backupName},
		Spec: haredisv1.RedisBackupSpec{Failover: haredisv1.LocalObjectReference{Name: rfName}}}
	if err := c.Create(ctx, rb); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("RedisBackup %s already exists in namespace %s: choose another --name", backupName, ns)
		}
		return explain(err, "create", "redisbackups", ns, "RedisBackup "+backupName)
	}
	fmt.Fprintf(out, "created RedisBackup %s of %s\n", backupName, rfName)
	if wait == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	lastReason := ""
	for {
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: backupName}, rb); err == nil {
			cond := meta.FindStatusCondition(rb.Status.Conditions, haredisv1.ConditionBackupCompleted)
			switch {
			case rb.Status.Phase == haredisv1.BackupCompleted:
				PrintBackup(out, rb)
				return nil
			case rb.Status.Phase == haredisv1.BackupFailed:
				return fmt.Errorf("RedisBackup %s failed: %s", backupName, conditionText(cond))
			case cond != nil && cond.Reason != lastReason:
				fmt.Fprintf(out, "%s: %s\n", cond.Reason, cond.Message)
				lastReason = cond.Reason
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("RedisBackup %s did not end within %s (phase %s); follow it with kubectl get rb %s -n %s -w", backupName, wait, rb.Status.Phase, backupName, ns)
		case <-time.After(time.Second):
		}
	}
}

func conditionText(c *metav1.Condition) string {
	if c == nil {
		return "no condition yet"
	}
	return c.Reason + ": " + c.Message
}

// PrintBackup prints what a completed backup holds and where it is.
func PrintBackup(out io.Writer, rb *haredisv1.RedisBackup) {
	s := rb.Status
	rows := [][]cell{
		{{text: "backup"}, {text: rb.Name}},
		{{text: "phase"}, {text: string(s.Phase)}},
		{{text: "source"}, {text: fmt.Sprintf("%s (%s)", s.Source, s.SourceRole)}},
		{{text: "keys"}, {text: fmt.Sprint(s.Keys)}},
		{{text: "size"}, {text: fmt.Sprintf("%d bytes", s.SizeBytes)}},
		{{text: "sha256"}, {text: s.SHA256}},
		{{text: "position"}, {text: fmt.Sprintf("offset %d of %s", s.ReplicationOffset, s.ReplicationID)}},
		{{text: "server"}, {text: fmt.Sprintf("%s (RDB format %d)", s.Server, s.RDBVersion)}},
	}
	if s.Location != nil {
		rows = append(rows, []cell{{text: "location"}, {text: fmt.Sprintf("%s at %s", s.Location.URL(), s.Location.Endpoint)}})
	}
	if s.StartTime != nil && s.EndTime != nil {
		rows = append(rows, []cell{{text: "took"}, {text: s.EndTime.Sub(s.StartTime.Time).Round(100 * time.Millisecond).String()}})
	}
	table(out, false, []string{"FIELD", "VALUE"}, rows)
}

// RestoreManifest is a RedisFailover named newName seeded from the
// RedisBackup backupName of namespace ns: the spec of the backup's
// RedisFailover when it still exists (without its backup schedule), the
// defaults otherwise.
func RestoreManifest(ctx context.Context, c client.Client, ns, backupName, newName string) (*haredisv1.RedisFailover, error) {
	rb := &haredisv1.RedisBackup{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: backupName}, rb); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("RedisBackup %q not found in namespace %s (kubectl get rb -n %s lists them)", backupName, ns, ns)
		}
		return nil, explain(err, "get", "redisbackups", ns, "RedisBackup "+backupName)
	}
	if rb.Status.Phase != haredisv1.BackupCompleted {
		return nil, fmt.Errorf("RedisBackup %s is %s, not Completed: only a completed backup restores", backupName, strings.ToLower(orNone(string(rb.Status.Phase))))
	}
	out := &haredisv1.RedisFailover{
		TypeMeta:   metav1.TypeMeta{APIVersion: haredisv1.GroupVersion.String(), Kind: "RedisFailover"},
		ObjectMeta: metav1.ObjectMeta{Name: newName, Namespace: ns},
	}
	src := &haredisv1.RedisFailover{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: rb.Spec.Failover.Name}, src); err == nil {
		out.Spec = *src.Spec.DeepCopy()
		if out.Spec.Backup != nil {
			out.Spec.Backup.Schedule = ""
		}
		if out.Spec.Auth.PasswordSecret != nil {
			// The new RedisFailover gets its own generated password.
			out.Spec.Auth.PasswordSecret = nil
		}
	}
	out.Spec.Bootstrap = &haredisv1.BootstrapSpec{FromBackup: &haredisv1.LocalObjectReference{Name: backupName}}
	return out, nil
}

func orNone(s string) string {
	if s == "" {
		return "not started"
	}
	return s
}

// CreateRF creates rf and says how to follow it.
func CreateRF(ctx context.Context, c client.Client, out io.Writer, rf *haredisv1.RedisFailover) error {
	if err := c.Create(ctx, rf); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("RedisFailover %s already exists in namespace %s: a restore seeds a new one; choose another name", rf.Name, rf.Namespace)
		}
		return explain(err, "create", "redisfailovers", rf.Namespace, "RedisFailover "+rf.Name)
	}
	fmt.Fprintf(out, "created RedisFailover %s from RedisBackup %s; follow it with kubectl haredis status %s -n %s\n", rf.Name, rf.Spec.Bootstrap.FromBackup.Name, rf.Name, rf.Namespace)
	return nil
}
