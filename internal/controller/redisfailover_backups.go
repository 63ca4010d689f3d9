package controller

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/robfig/cron/v3"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/objectstore"
)

// cronParser reads spec.backup.schedule: five fields, or a descriptor
// such as @daily or @every 6h.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// scheduleBackups creates the RedisBackups spec.backup.schedule asks for,
// deletes the scheduled ones retention lets go (with their objects), and
// reports where the backups stand. A missed run (the operator was down)
// gives one backup, not one per missed time.
func (r *RedisFailoverReconciler) scheduleBackups(ctx context.Context, rf *haredisv1.RedisFailover, st *state) (ctrl.Result, error) {
	if rf.Spec.Backup == nil || rf.Spec.Backup.Schedule == "" {
		meta.RemoveStatusCondition(&rf.Status.Conditions, haredisv1.ConditionBackupsCurrent)
		return ctrl.Result{}, nil
	}
	sched, err := cronParser.Parse(rf.Spec.Backup.Schedule)
	if err != nil {
		setBackupsCurrent(rf, false, haredisv1.ReasonBackupsBadSchedule, fmt.Sprintf("spec.backup.schedule %q: %v", rf.Spec.Backup.Schedule, err))
		return ctrl.Result{}, nil
	}
	var list haredisv1.RedisBackupList
	if err := r.List(ctx, &list, client.InNamespace(rf.Namespace)); err != nil {
		return ctrl.Result{}, fmt.Errorf("cannot list RedisBackups: %w", err)
	}
	var mine []haredisv1.RedisBackup
	for _, b := range list.Items {
		if b.Spec.Failover.Name == rf.Name {
			mine = append(mine, b)
		}
	}
	now := time.Now()
	if rf.Status.Backup == nil {
		rf.Status.Backup = &haredisv1.BackupStatus{}
	}
	bs := rf.Status.Backup
	last := rf.CreationTimestamp.Time
	if bs.LastScheduleTime != nil {
		last = bs.LastScheduleTime.Time
	}
	if due := sched.Next(last); !due.After(now) {
		// The latest time due, however many were missed.
		for n := sched.Next(due); !n.After(now); n = sched.Next(n) {
			due = n
		}
		if err := r.createScheduledBackup(ctx, rf, due); err != nil {
			return ctrl.Result{}, err
		}
		bs.LastScheduleTime = &metav1.Time{Time: due}
		last = due
	}
	next := sched.Next(last)
	bs.NextScheduleTime = &metav1.Time{Time: next}
	r.retain(ctx, rf, mine, now)
	r.reportBackups(rf, mine, sched, now)
	return ctrl.Result{}, nil
}

func (r *RedisFailoverReconciler) createScheduledBackup(ctx context.Context, rf *haredisv1.RedisFailover, due time.Time) error {
	rb := &haredisv1.RedisBackup{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: rf.Namespace,
			Name:      fmt.Sprintf("%s-%s", rf.Name, due.UTC().Format("20060102-1504")),
			Labels:    map[string]string{haredisv1.LabelFailover: rf.Name, haredisv1.LabelScheduled: "true"},
		},
		Spec: haredisv1.RedisBackupSpec{Failover: haredisv1.LocalObjectReference{Name: rf.Name}},
	}
	if err := r.Create(ctx, rb); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("cannot create the scheduled RedisBackup %s: %w", rb.Name, err)
	}
	log.FromContext(ctx).Info("created a scheduled backup", "backup", rb.Name, "due", due.UTC().Format(time.RFC3339))
	r.event(rf, corev1.EventTypeNormal, "BackupScheduled", "Backup", "created RedisBackup %s for the schedule %q", rb.Name, rf.Spec.Backup.Schedule)
	return nil
}

// retain deletes the completed scheduled backups beyond spec.backup.keep
// or older than spec.backup.maxAge (never the newest completed one), and
// the failed scheduled ones older than the newest completed one; the
// objects first, then the RedisBackups. A store that refuses keeps both,
// to be tried again at the next reconcile.
func (r *RedisFailoverReconciler) retain(ctx context.Context, rf *haredisv1.RedisFailover, mine []haredisv1.RedisBackup, now time.Time) {
	keep := int(max(rf.Spec.Backup.Keep, 1))
	expired := expiredBackups(rf, mine, now)
	for i := range expired {
		b := &expired[i]
		if err := r.deleteBackupObject(ctx, b); err != nil {
			log.FromContext(ctx).Error(err, "cannot delete an expired backup's object; trying again later", "backup", b.Name)
			r.event(rf, corev1.EventTypeWarning, "BackupNotDeleted", "Retain", "cannot delete the object of expired RedisBackup %s: %v", b.Name, err)
			continue
		}
		if err := r.Delete(ctx, b); err != nil && !apierrors.IsNotFound(err) {
			log.FromContext(ctx).Error(err, "cannot delete an expired RedisBackup", "backup", b.Name)
			continue
		}
		log.FromContext(ctx).Info("deleted an expired backup", "backup", b.Name, "phase", b.Status.Phase)
		r.event(rf, corev1.EventTypeNormal, "BackupExpired", "Retain", "deleted RedisBackup %s and its object (spec.backup keep %d%s)", b.Name, keep, maxAgeNote(rf))
	}
}

// expiredBackups are the scheduled backups retention lets go (see retain).
func expiredBackups(rf *haredisv1.RedisFailover, mine []haredisv1.RedisBackup, now time.Time) []haredisv1.RedisBackup {
	var completed, failed []haredisv1.RedisBackup
	for _, b := range mine {
		if b.Labels[haredisv1.LabelScheduled] != "true" || b.DeletionTimestamp != nil {
			continue
		}
		switch b.Status.Phase {
		case haredisv1.BackupCompleted:
			completed = append(completed, b)
		case haredisv1.BackupFailed:
			failed = append(failed, b)
		}
	}
	sort.Slice(completed, func(i, j int) bool { return completed[i].CreationTimestamp.After(completed[j].CreationTimestamp.Time) })
	keep := int(max(rf.Spec.Backup.Keep, 1))
	var expired []haredisv1.RedisBackup
	for i, b := range completed {
		tooOld := rf.Spec.Backup.MaxAge != nil && i > 0 && now.Sub(b.CreationTimestamp.Time) > rf.Spec.Backup.MaxAge.Duration
		if i >= keep || tooOld {
			expired = append(expired, b)
		}
	}
	if len(completed) > 0 {
		for _, b := range failed {
			if b.CreationTimestamp.Before(&completed[0].CreationTimestamp) {
				expired = append(expired, b)
			}
		}
	}
	return expired
}

func maxAgeNote(rf *haredisv1.RedisFailover) string {
	if rf.Spec.Backup.MaxAge == nil {
		return ""
	}
	return ", maxAge " + rf.Spec.Backup.MaxAge.Duration.String()
}

// deleteBackupObject removes a backup's object from the store it was
// written to; a backup without one (it failed) has nothing to remove.
func (r *RedisFailoverReconciler) deleteBackupObject(ctx context.Context, b *haredisv1.RedisBackup) error {
	loc := b.Status.Location
	if loc == nil || b.Status.Phase != haredisv1.BackupCompleted {
		return nil
	}
	data, err := storeSecretData(ctx, r.APIReader, b.Namespace, loc.CredentialsSecret, haredisv1.ReasonBackupCredentialsMissing)
	if err != nil {
		return err
	}
	creds, err := objectstore.CredentialsFromSecret(data, nil)
	if err != nil {
		return err
	}
	c, err := objectstore.New(objectstore.Config{Endpoint: loc.Endpoint, Bucket: loc.Bucket, Region: loc.Region, Credentials: creds})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return c.Delete(ctx, loc.Key)
}

// reportBackups writes status.backup's last success and the BackupsCurrent
// condition: False when the newest scheduled backup failed, or the newest
// completed one is older than twice the schedule's interval.
func (r *RedisFailoverReconciler) reportBackups(rf *haredisv1.RedisFailover, mine []haredisv1.RedisBackup, sched cron.Schedule, now time.Time) {
	bs := rf.Status.Backup
	var newest, newestScheduled *haredisv1.RedisBackup
	for i := range mine {
		b := &mine[i]
		if b.Status.Phase == haredisv1.BackupCompleted && b.Status.EndTime != nil && (newest == nil || b.Status.EndTime.After(newest.Status.EndTime.Time)) {
			newest = b
		}
		if b.Labels[haredisv1.LabelScheduled] == "true" && (newestScheduled == nil || b.CreationTimestamp.After(newestScheduled.CreationTimestamp.Time)) {
			newestScheduled = b
		}
	}
	if newest != nil {
		bs.LastSuccessfulBackup, bs.LastSuccessfulTime = newest.Name, newest.Status.EndTime
	}
	first := sched.Next(rf.CreationTimestamp.Time)
	interval := sched.Next(first).Sub(first)
	switch {
	case newestScheduled != nil && newestScheduled.Status.Phase == haredisv1.BackupFailed:
		msg := "the last scheduled backup failed"
		if c := meta.FindStatusCondition(newestScheduled.Status.Conditions, haredisv1.ConditionBackupCompleted); c != nil {
			msg += ": " + c.Message
		}
		setBackupsCurrent(rf, false, haredisv1.ReasonBackupsLastFailed, fmt.Sprintf("RedisBackup %s: %s", newestScheduled.Name, msg))
	case newest == nil && now.Before(first.Add(2*interval)):
		setBackupsCurrent(rf, true, haredisv1.ReasonBackupsFirstPending, fmt.Sprintf("the first scheduled backup is due at %s", first.UTC().Format(time.RFC3339)))
	case newest == nil:
		setBackupsCurrent(rf, false, haredisv1.ReasonBackupsTooOld, fmt.Sprintf("no backup completed since the schedule %q began", rf.Spec.Backup.Schedule))
	case now.Sub(newest.Status.EndTime.Time) > 2*interval:
		setBackupsCurrent(rf, false, haredisv1.ReasonBackupsTooOld, fmt.Sprintf("the newest completed backup, %s, ended at %s: longer ago than twice the schedule's interval (%s)",
			newest.Name, newest.Status.EndTime.UTC().Format(time.RFC3339), interval))
	default:
		setBackupsCurrent(rf, true, haredisv1.ReasonBackupsCurrent, fmt.Sprintf("the newest completed backup, %s, ended at %s",
			newest.Name, newest.Status.EndTime.UTC().Format(time.RFC3339)))
	}
}

func setBackupsCurrent(rf *haredisv1.RedisFailover, ok bool, reason, msg string) {
	s := metav1.ConditionFalse
	if ok {
		s = metav1.ConditionTrue
	}
	meta.SetStatusCondition(&rf.Status.Conditions, metav1.Condition{
		Type: haredisv1.ConditionBackupsCurrent, Status: s, Reason: reason, Message: msg, ObservedGeneration: rf.Generation,
	})
}
