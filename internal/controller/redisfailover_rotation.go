package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/acl"
	"github.com/haredis/haredis/internal/sentinel"
	"github.com/haredis/haredis/internal/specs"
)

// A rotation of the application password goes in two phases, with no
// restart and no refused client:
//
//  1. A new password in the source Secret (NAME-auth, or
//     spec.auth.passwordSecret) is added next to the one in force: first on
//     every sentinel (live, ACL SETUSER), then in Secret NAME-internal
//     (password, and the previous one's hash, which the instances, the
//     sentinels' restarts and the proxies read), while NAME-connection
//     keeps the previous one.
//  2. Once every ready instance and proxy takes the new one, NAME-connection
//     switches to it; the previous one stays accepted for
//     spec.auth.passwordGracePeriod, then goes from the sentinels (live,
//     their peers' password first) and from NAME-internal.
//
// The instance managers and the sentinels' own questions to the instances
// use internal users, whose passwords never rotate, so nothing that decides
// a role depends on which password a pod has read so far.

// rotationStep says what a rotation does next.
type rotationStep int

const (
	rotationNone rotationStep = iota
	// rotationBegin: a new password goes in next to the one clients use.
	rotationBegin
	// rotationHeld: the source changed again before NAME-connection
	// switched: that change waits for the switch (pods may have read the
	// password in progress, and ask the sentinels with it).
	rotationHeld
	// rotationSwitch: every instance and proxy takes the new password;
	// NAME-connection gets it and the grace period starts.
	rotationSwitch
	// rotationEnd: the grace period is over: the previous password goes.
	rotationEnd
)

// nextRotation is the pure rule of a rotation: from the password in force,
// the source's (source, "" when unreadable), the rotation recorded, whether
// every instance and proxy takes the password in force (taken) and the
// time, it returns the password and rotation to record and the step.
// A change of the source before NAME-connection switched waits for the
// switch (rotationHeld; the rotation in progress goes on); after it, the
// change begins a new rotation whose previous password is the one in
// force, and the older one goes at once.
func nextRotation(inForce, source string, rec specs.Rotation, taken bool, now time.Time, grace time.Duration) (string, specs.Rotation, rotationStep) {
	changed := source != "" && source != inForce
	switch {
	case changed && (rec.Previous == "" || rec.Until != ""):
		return source, specs.Rotation{Previous: inForce}, rotationBegin
	case rec.Previous == "":
		return inForce, rec, rotationNone
	case rec.Until == "" && !taken && changed:
		return inForce, rec, rotationHeld
	case rec.Until == "" && !taken:
		return inForce, rec, rotationNone
	case rec.Until == "" && grace <= 0:
		return inForce, specs.Rotation{}, rotationEnd
	case rec.Until == "":
		return inForce, specs.Rotation{Previous: rec.Previous, Until: now.Add(grace).UTC().Format(time.RFC3339)}, rotationSwitch
	}
	until, err := time.Parse(time.RFC3339, rec.Until)
	if err == nil && now.Before(until) {
		return inForce, rec, rotationNone
	}
	return inForce, specs.Rotation{}, rotationEnd
}

// rotatePassword runs a rotation of the application password (RedisFailovers
// with Redis users): see above.
func (r *RedisFailoverReconciler) rotatePassword(ctx context.Context, rf *haredisv1.RedisFailover, st *state) (ctrl.Result, error) {
	if !rf.AuthEnabled() || !rf.ACLUsersEnabled() || (st.rotateTo == "" && st.rotation.Previous == "") {
		return ctrl.Result{}, nil
	}
	taken := false
	if st.rotation.Previous != "" && st.rotation.Until == "" {
		waiting := r.notTakingPassword(ctx, rf, st)
		taken = len(waiting) == 0
		if !taken {
			st.passwordSync = passwordSync{reason: haredisv1.ReasonPasswordRotating, message: fmt.Sprintf(
				"a new password from the password Secret is being put in force; %s do not take it yet (pods read Secret %s within about a minute), so %s keeps the previous one",
				strings.Join(waiting, ", "), specs.InternalSecretName(rf), rf.ConnectionSecretName())}
		}
	}
	password, rot, step := nextRotation(st.password, st.rotateTo, st.rotation, taken, time.Now(), rf.PasswordGracePeriod())
	if step == rotationBegin {
		if msg := r.cannotBegin(rf, st, password); msg != "" {
			st.passwordSync = passwordSync{reason: haredisv1.ReasonPasswordRotating, message: msg}
			return ctrl.Result{}, nil
		}
		// Pods of an earlier haredis read one password only: a new one
		// would lock out the clients of the previous one there.
		if old := podsWithoutRotation(st); len(old) > 0 {
			st.passwordSync = passwordSync{reason: haredisv1.ReasonPasswordRotating, message: fmt.Sprintf(
				"a new password from the password Secret waits until the rolling update has replaced %s, which an earlier haredis created and which cannot take two passwords; %s keeps the password in force",
				strings.Join(old, ", "), rf.ConnectionSecretName())}
			return ctrl.Result{}, nil
		}
	}
	switch step {
	case rotationBegin:
		// The sentinels first: the pods read the new password from
		// NAME-internal in their own time, and ask the sentinels with it.
		// They give their peers the one in force so far, which every
		// sentinel takes before and after.
		if err := r.sentinelsTake(ctx, rf, st, password, rot.Previous, rot.Previous, []string{st.password, st.rotation.Previous}); err != nil {
			st.sentinelErrors = append(st.sentinelErrors, err.Error())
			return ctrl.Result{}, nil // tried again at the next reconcile
		}
	case rotationEnd:
		// A sentinel restarted from an older copy of the Secret takes
		// both first; then every sentinel gives its peers the new
		// password before the previous one is refused. Until every
		// sentinel has, the rotation stays as it is.
		prev := st.rotation.Previous
		if err := r.sentinelsTake(ctx, rf, st, password, prev, prev, []string{prev}); err != nil {
			st.sentinelErrors = append(st.sentinelErrors, err.Error())
			return ctrl.Result{}, nil
		}
		if errs := r.sentinelsDrop(ctx, rf, st, password); len(errs) > 0 {
			st.sentinelErrors = append(st.sentinelErrors, errs...)
			return ctrl.Result{}, nil
		}
	case rotationHeld, rotationNone:
		if rot.Previous != "" {
			// A sentinel restarted from an older copy of the Secret, or
			// missed by the first phase: both passwords, and the
			// previous one towards its peers (every sentinel takes it).
			if err := r.sentinelsTake(ctx, rf, st, password, rot.Previous, rot.Previous, []string{rot.Previous}); err != nil {
				st.sentinelErrors = append(st.sentinelErrors, err.Error())
			}
		}
		switch {
		case step == rotationHeld:
			st.passwordSync = passwordSync{reason: haredisv1.ReasonPasswordRotating, message: fmt.Sprintf(
				"the password Secret changed again during a rotation; the newest password begins once %s holds the one in progress (%s)", rf.ConnectionSecretName(), st.passwordSync.message)}
		case st.passwordSync.ok && rot.Until != "":
			st.passwordSync.message = graceMessage(rot.Until)
		}
		return ctrl.Result{}, nil
	}
	st.password, st.rotation, st.rotateTo = password, rot, ""
	if err := r.writeInternal(ctx, rf, st, nil); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.writeConnection(ctx, rf, st); err != nil {
		return ctrl.Result{}, err
	}
	switch step {
	case rotationBegin:
		r.event(rf, corev1.EventTypeNormal, haredisv1.EventPasswordRotation, "RotatePassword",
			"a new password from the password Secret is accepted by the sentinels and goes to the instances and proxies next to the previous one; %s switches once they all take it", rf.ConnectionSecretName())
		st.passwordSync = passwordSync{reason: haredisv1.ReasonPasswordRotating, message: fmt.Sprintf(
			"a new password from the password Secret is being put in force; %s keeps the previous one until every instance and proxy takes it", rf.ConnectionSecretName())}
	case rotationSwitch:
		r.event(rf, corev1.EventTypeNormal, haredisv1.EventPasswordRotation, "RotatePassword",
			"every instance and proxy takes the new password; %s holds it, and the previous one is accepted until %s (spec.auth.passwordGracePeriod)", rf.ConnectionSecretName(), rot.Until)
		st.passwordSync = passwordSync{ok: true, message: graceMessage(rot.Until)}
	case rotationEnd:
		r.event(rf, corev1.EventTypeNormal, haredisv1.EventPasswordRotation, "RotatePassword",
			"the rotation of the password is complete: the previous password is no longer accepted")
	}
	log.FromContext(ctx).Info("rotation of the password", "step", int(step), "until", rot.Until)
	return ctrl.Result{}, nil
}

// cannotBegin says why a rotation to password cannot begin now, "" when
// it can: a password sentinel.conf cannot hold, or a live import (the
// source authenticates the instance that replicates from it with the
// password).
func (r *RedisFailoverReconciler) cannotBegin(rf *haredisv1.RedisFailover, st *state, password string) string {
	name, key := specs.PasswordSecretRef(rf)
	switch {
	case strings.ContainsAny(password, " \t\r\n\"'"):
		return fmt.Sprintf("the new password in Secret %s (key %s) contains a space, quote or line break, which Sentinel's configuration cannot hold; haredis keeps the password in force: put another one into the Secret", name, key)
	case importing(rf):
		return "a new password from the password Secret waits until the live import has ended (kubectl haredis cutover): the instance replicating from the source authenticates with the password in force"
	}
	return ""
}

// graceMessage is PasswordSecretInSync's message during a grace period.
func graceMessage(until string) string {
	return fmt.Sprintf("the password Secret holds the password in force; the previous one is still accepted until %s (spec.auth.passwordGracePeriod)", until)
}

// sentinelsTake makes every sentinel that answers take password, and the
// previous one too when given, authenticating with the first of auths
// (or password) it accepts; with peer, each also gives its peers that
// password. A sentinel that does not answer is left: a restarted one reads
// both from NAME-internal, and the next reconcile tries again.
func (r *RedisFailoverReconciler) sentinelsTake(ctx context.Context, rf *haredisv1.RedisFailover, st *state, password, previous, peer string, auths []string) error {
	if st.pool != nil {
		// A SentinelPool's sentinels never take the application's
		// password: their own authenticates them.
		return nil
	}
	prevHash := ""
	if previous != "" {
		prevHash = acl.Hash(previous)
	}
	acc := func(pw string) sentinel.Access { return sentinel.Access{Password: pw, TLS: st.tls} }
	var errs []error
	for _, addr := range r.Reach.SentinelAddrs(rf, st.sentinels) {
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		if sentinel.Accepts(cctx, addr, acc(password)) == nil && (previous == "" || sentinel.Accepts(cctx, addr, acc(previous)) == nil) {
			if peer == "" {
				cancel()
				continue
			}
			if have, err := sentinel.PeerPassword(cctx, addr, acc(password)); err == nil && have == peer {
				cancel()
				continue
			}
		}
		auth, found := "", false
		for _, a := range append([]string{password}, auths...) {
			if a == "" {
				continue
			}
			err := sentinel.Accepts(cctx, addr, acc(a))
			if err == nil {
				auth, found = a, true
				break
			}
			if !errors.Is(err, sentinel.ErrWrongPassword) {
				break // not answering: left for later
			}
		}
		if found {
			if err := sentinel.SetPasswords(cctx, addr, acc(auth), password, prevHash, peer); err != nil {
				errs = append(errs, err)
			} else {
				log.FromContext(ctx).Info("a sentinel takes the rotated password", "sentinel", addr, "previousAccepted", previous != "")
			}
		}
		cancel()
	}
	if len(errs) > 0 {
		return fmt.Errorf("cannot put the rotated password in force on the sentinels: %w", errors.Join(errs...))
	}
	return nil
}

// sentinelsDrop ends a rotation on the sentinels: every one gives its
// peers the new password, then every one takes only that one. It returns
// what failed; any failure (also a sentinel that does not answer) keeps
// the rotation as it is, to be ended at a later reconcile.
func (r *RedisFailoverReconciler) sentinelsDrop(ctx context.Context, rf *haredisv1.RedisFailover, st *state, password string) []string {
	if st.pool != nil {
		return nil
	}
	addrs := r.Reach.SentinelAddrs(rf, st.sentinels)
	var errs []string
	if len(addrs) < len(st.sentinels) {
		// A sentinel without an address cannot be told; the end waits.
		return []string{fmt.Sprintf("the rotation of the password ends once every sentinel can be reached (%d of %d have an address)", len(addrs), len(st.sentinels))}
	}
	// Each still takes the previous password while the others switch.
	for _, addr := range addrs {
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err := sentinel.SetPeerPassword(cctx, addr, sentinel.Access{Password: password, TLS: st.tls})
		cancel()
		if err != nil {
			errs = append(errs, fmt.Sprintf("the rotation of the password cannot end yet: sentinel %s: %v", addr, err))
		}
	}
	if len(errs) > 0 {
		return errs
	}
	for _, addr := range addrs {
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err := sentinel.SetPasswords(cctx, addr, sentinel.Access{Password: password, TLS: st.tls}, password, "", "")
		cancel()
		if err != nil {
			errs = append(errs, fmt.Sprintf("the rotation of the password cannot end yet: sentinel %s: %v", addr, err))
		}
	}
	return errs
}

// notTakingPassword lists the ready instances and proxies that refuse the
// password in force (or cannot be asked); pods that are not ready read it
// when they start.
func (r *RedisFailoverReconciler) notTakingPassword(ctx context.Context, rf *haredisv1.RedisFailover, st *state) []string {
	var out []string
	ask := func(what, addr string) {
		if addr == "" {
			return
		}
		c := redis.NewClient(&redis.Options{Addr: addr, Username: acl.ApplicationUser, Password: st.password, TLSConfig: st.tls, DialTimeout: time.Second,
			ReadTimeout: time.Second, WriteTimeout: time.Second, MaxRetries: -1, PoolSize: 1, Protocol: 2, DisableIdentity: true})
		defer c.Close()
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		switch err := c.Do(cctx, "ROLE").Err(); {
		case err == nil:
		case strings.HasPrefix(err.Error(), "WRONGPASS"):
			out = append(out, what)
		default:
			out = append(out, fmt.Sprintf("%s (%v)", what, err))
		}
	}
	for _, name := range st.instances {
		if p := st.pods[name]; p != nil && podReady(p) {
			ask("instance "+name, r.Reach.RedisAddr(rf, p))
		}
	}
	for i := range st.proxies {
		if p := &st.proxies[i]; podReady(p) {
			ask("proxy "+p.Name, r.Reach.RedisAddr(rf, p))
		}
	}
	return out
}

// podReady tells whether the pod's Ready condition is True and it is not
// being deleted.
func podReady(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// podsWithoutRotation lists the instance, sentinel and proxy pods that do
// not mount the previous password (its hash, acl.PreviousPasswordHashKey,
// or itself, specs.PreviousPasswordKey, for the proxies): pods of an
// earlier haredis, which take one password only.
func podsWithoutRotation(st *state) []string {
	var out []string
	check := func(p *corev1.Pod) {
		if p == nil || p.DeletionTimestamp != nil {
			return
		}
		for _, v := range p.Spec.Volumes {
			if v.Secret == nil {
				continue
			}
			for _, it := range v.Secret.Items {
				if it.Key == acl.PreviousPasswordHashKey || it.Key == specs.PreviousPasswordKey {
					return
				}
			}
		}
		out = append(out, p.Name)
	}
	for _, name := range st.instances {
		check(st.pods[name])
	}
	if st.pool == nil {
		// A SentinelPool's pods mount no password of rf.
		for i := range st.sentinels {
			check(&st.sentinels[i])
		}
	}
	for i := range st.proxies {
		check(&st.proxies[i])
	}
	return out
}
