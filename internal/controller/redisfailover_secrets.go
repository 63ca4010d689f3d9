package controller

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/acl"
	"github.com/haredis/haredis/internal/proxyapi"
	"github.com/haredis/haredis/internal/specs"
)

// reconcileSecrets keeps the password in force and the manager token in
// Secret NAME-internal, which haredis's pods mount and applications never
// get. The password in force is copied from the source (the generated
// NAME-auth or spec.auth.passwordSecret) when nothing uses one yet, and is
// never changed behind running pods: a deleted generated Secret is put
// back from it, a deleted or changed user Secret is reported, and a new
// password is generated only while no pod could be using another.
func (r *RedisFailoverReconciler) reconcileSecrets(ctx context.Context, rf *haredisv1.RedisFailover, st *state) (ctrl.Result, error) {
	internal := &corev1.Secret{}
	key := types.NamespacedName{Namespace: rf.Namespace, Name: specs.InternalSecretName(rf)}
	err := r.Get(ctx, key, internal)
	if apierrors.IsNotFound(err) {
		// The cache holds only what carries haredis's labels: before
		// taking the password in force for lost, ask the API server (a
		// Secret re-created by hand without them is adopted below).
		err = r.APIReader.Get(ctx, key, internal)
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, fmt.Errorf("cannot get Secret %s: %w", specs.InternalSecretName(rf), err)
	}
	haveInternal := err == nil
	// The tokens are read at each request by the managers and proxies,
	// so one that was lost can be generated again.
	for key, dst := range map[string]*string{specs.TokenKey: &st.token, proxyapi.TokenKey: &st.proxyToken} {
		if *dst = string(internal.Data[key]); *dst == "" {
			if *dst, err = specs.GeneratePassword(); err != nil {
				return ctrl.Result{}, err
			}
		}
	}
	// The internal users' passwords are generated once and kept: the
	// instances' users and the replicas' and sentinels' credentials hold
	// them, so one is never generated again behind running pods.
	for _, key := range []string{acl.AdminPasswordKey, acl.ReplicationPasswordKey, acl.SentinelPasswordKey} {
		if len(internal.Data[key]) > 0 || !rf.ACLUsersEnabled() {
			continue
		}
		running, err := r.podsRunning(ctx, rf)
		if err != nil {
			return ctrl.Result{}, err
		}
		if running {
			return r.blocked(ctx, rf, haredisv1.ReasonPasswordLost, fmt.Sprintf(
				"Secret %s lost its key %s while pods run with the internal users' passwords it held; haredis will not generate new ones behind them. Restore the Secret from a copy, or delete the pods of %s (kubectl delete pod -l %s=%s) so that they start again with new ones",
				specs.InternalSecretName(rf), key, rf.Name, specs.LabelInstance, rf.Name))
		}
		break
	}
	for key, dst := range map[string]*string{acl.AdminPasswordKey: &st.internal.Admin, acl.ReplicationPasswordKey: &st.internal.Replication, acl.SentinelPasswordKey: &st.internal.Sentinel} {
		if *dst = string(internal.Data[key]); *dst == "" && rf.ACLUsersEnabled() {
			if *dst, err = specs.GeneratePassword(); err != nil {
				return ctrl.Result{}, err
			}
		}
	}
	st.passwordSync = passwordSync{ok: true}
	if rf.AuthEnabled() {
		inForce := strings.TrimRight(string(internal.Data[specs.PasswordKey]), "\r\n")
		source, sourceErr := r.sourcePassword(ctx, rf)
		if sourceErr != nil && !apierrors.IsNotFound(sourceErr) {
			return ctrl.Result{}, sourceErr
		}
		switch {
		case inForce != "":
			st.password = inForce
			st.rotation = specs.Rotation{Previous: string(internal.Data[specs.PreviousPasswordKey]), Until: string(internal.Data[specs.PreviousPasswordUntilKey])}
			if !rf.ACLUsersEnabled() {
				st.rotation = specs.Rotation{}
			}
			if rf.ACLUsersEnabled() && sourceErr == nil && source != inForce {
				// A new password: rotatePassword puts it in force, the
				// sentinels first.
				st.rotateTo = source
			} else if err := r.checkSource(ctx, rf, st, inForce, source, sourceErr); err != nil {
				return ctrl.Result{}, err
			}
		case sourceErr == nil:
			st.password = source
		case rf.Spec.Auth.PasswordSecret != nil:
			name, key := specs.PasswordSecretRef(rf)
			return r.blocked(ctx, rf, haredisv1.ReasonPasswordSecretMissing,
				fmt.Sprintf("spec.auth.passwordSecret: Secret %s not found in namespace %s, or its key %s is empty; create it with the password under that key, or remove spec.auth.passwordSecret to let haredis generate a password", name, rf.Namespace, key))
		default:
			running, err := r.podsRunning(ctx, rf)
			if err != nil {
				return ctrl.Result{}, err
			}
			if running {
				return r.blocked(ctx, rf, haredisv1.ReasonPasswordLost, fmt.Sprintf(
					"Secrets %s and %s were deleted while pods run with the password they held; haredis will not generate a new one behind them. If you know the password, create Secret %s with it under the key %s; otherwise delete the pods of %s (kubectl delete pod -l %s=%s) so that they start again with a new password",
					rf.AuthSecretName(), specs.InternalSecretName(rf), rf.AuthSecretName(), specs.PasswordKey, rf.Name, specs.LabelInstance, rf.Name))
			}
			pw, err := specs.GeneratePassword()
			if err != nil {
				return ctrl.Result{}, err
			}
			if err := r.Create(ctx, specs.AuthSecret(rf, pw)); err != nil {
				return ctrl.Result{}, fmt.Errorf("cannot create Secret %s: %w", rf.AuthSecretName(), err)
			}
			log.FromContext(ctx).Info("generated the password", "secret", rf.AuthSecretName())
			st.password = pw
		}
	}
	if st.declared, st.declaredProblem, err = r.declaredUsers(ctx, rf, internal.Data[acl.DeclaredUsersKey]); err != nil {
		return ctrl.Result{}, err
	}
	if !haveInternal {
		want := r.internalSecret(rf, st)
		if err := r.Create(ctx, want); err != nil {
			return ctrl.Result{}, fmt.Errorf("cannot create Secret %s: %w", want.Name, err)
		}
	} else if err := r.writeInternal(ctx, rf, st, internal); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{}, r.writeConnection(ctx, rf, st)
}

// internalSecret is Secret NAME-internal as st has it.
func (r *RedisFailoverReconciler) internalSecret(rf *haredisv1.RedisFailover, st *state) *corev1.Secret {
	return specs.InternalSecret(rf, st.password, specs.Tokens{Manager: st.token, Proxy: st.proxyToken}, st.internal, st.declared, st.rotation)
}

// writeInternal updates Secret NAME-internal (obj, as read; nil to read
// it) to what st has.
func (r *RedisFailoverReconciler) writeInternal(ctx context.Context, rf *haredisv1.RedisFailover, st *state, obj *corev1.Secret) error {
	want := r.internalSecret(rf, st)
	if obj == nil {
		obj = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: want.Name, Namespace: want.Namespace}}
	}
	_, err := r.createOrUpdate(ctx, obj, want, func() { obj.Data = want.Data; obj.Type = want.Type })
	return err
}

// writeConnection updates Secret NAME-connection: the password in force,
// or the one a rotation replaces until every instance and proxy takes
// the new one.
func (r *RedisFailoverReconciler) writeConnection(ctx context.Context, rf *haredisv1.RedisFailover, st *state) error {
	pw := st.password
	if st.rotation.Previous != "" && st.rotation.Until == "" {
		pw = st.rotation.Previous
	}
	conn := specs.ConnectionSecret(rf, pw, st.tlsInfo.caPEM)
	obj := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: conn.Name, Namespace: conn.Namespace}}
	_, err := r.createOrUpdate(ctx, obj, conn, func() { obj.Data = conn.Data; obj.Type = conn.Type })
	return err
}

// sourcePassword reads the password from its source Secret; a NotFound
// error also when the key is missing or empty.
func (r *RedisFailoverReconciler) sourcePassword(ctx context.Context, rf *haredisv1.RedisFailover) (string, error) {
	name, key := specs.PasswordSecretRef(rf)
	return r.secretPassword(ctx, rf.Namespace, name, key)
}

// declaredUsers reads the password of every user spec.auth.users declares,
// for NAME-internal (hashes only). A user whose Secret cannot be read, or
// whose rules haredis refuses, keeps what is in force (inForce, the
// previous NAME-internal), so that a deleted Secret never locks its
// clients out; problem says which user and what to do.
func (r *RedisFailoverReconciler) declaredUsers(ctx context.Context, rf *haredisv1.RedisFailover, inForce []byte) ([]acl.DeclaredUser, string, error) {
	if len(rf.Spec.Auth.Users) == 0 {
		return nil, "", nil
	}
	if !rf.ACLUsersEnabled() {
		return nil, "spec.auth.users: this RedisFailover was created by an earlier haredis and has no Redis users (status.aclUsers is not true), so it cannot declare more; remove spec.auth.users, or move the data to a new RedisFailover (docs/security.md, Redis users)", nil
	}
	previous := map[string]acl.DeclaredUser{}
	if ds, err := acl.DecodeDeclared(inForce); err == nil {
		for _, d := range ds {
			previous[d.Name] = d
		}
	}
	var out []acl.DeclaredUser
	var problems []string
	for i, u := range rf.Spec.Auth.Users {
		keep := func(problem string) {
			problems = append(problems, fmt.Sprintf("spec.auth.users[%d] (%s): %s", i, u.Name, problem))
			if p, ok := previous[u.Name]; ok {
				out = append(out, p)
			}
		}
		if err := acl.CheckUserName(u.Name); err != nil {
			keep(err.Error())
			continue
		}
		if _, err := acl.ParseRules(u.Rules); err != nil {
			keep("rules: " + err.Error())
			continue
		}
		pw, err := r.secretPassword(ctx, rf.Namespace, u.PasswordSecret.Name, u.PasswordSecret.Key)
		switch {
		case apierrors.IsNotFound(err):
			keep(fmt.Sprintf("Secret %s has no key %s (or it is empty); create it with the user's password under that key", u.PasswordSecret.Name, u.PasswordSecret.Key))
			continue
		case err != nil:
			return nil, "", err
		}
		out = append(out, r.rotate(rf, acl.DeclaredUser{Name: u.Name, Rules: u.Rules, PasswordHash: acl.Hash(pw)}, previous[u.Name], time.Now()))
	}
	return out, strings.Join(problems, "; "), nil
}

// rotate carries a declared user's previous password over a change of its
// Secret: the password in force before (prev) stays accepted next to the
// new one until spec.auth.passwordGracePeriod has passed, then goes. A
// second change within the period replaces the older of the two.
func (r *RedisFailoverReconciler) rotate(rf *haredisv1.RedisFailover, d, prev acl.DeclaredUser, now time.Time) acl.DeclaredUser {
	switch {
	case prev.PasswordHash == "":
		// A new user.
	case prev.PasswordHash != d.PasswordHash:
		grace := rf.PasswordGracePeriod()
		if grace <= 0 {
			r.event(rf, corev1.EventTypeNormal, haredisv1.EventUserPasswordChanged, "RotatePassword",
				"user %s: the new password from its Secret is in force; the previous one is no longer accepted (spec.auth.passwordGracePeriod is 0s)", d.Name)
			break
		}
		d.PreviousHash, d.PreviousUntil = prev.PasswordHash, now.Add(grace).UTC().Format(time.RFC3339)
		r.event(rf, corev1.EventTypeNormal, haredisv1.EventUserPasswordChanged, "RotatePassword",
			"user %s: the new password from its Secret is in force; the previous one is accepted until %s (spec.auth.passwordGracePeriod)", d.Name, d.PreviousUntil)
	case prev.PreviousHash != "":
		if until, err := time.Parse(time.RFC3339, prev.PreviousUntil); err == nil && now.Before(until) {
			d.PreviousHash, d.PreviousUntil = prev.PreviousHash, prev.PreviousUntil
		}
	}
	return d
}

// secretPassword reads one key of a Secret of the user's, through the API
// server (it carries no haredis label, so it is not in the cache); a
// NotFound error also when the key is missing or empty.
func (r *RedisFailoverReconciler) secretPassword(ctx context.Context, namespace, name, key string) (string, error) {
	secret := &corev1.Secret{}
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return "", err
		}
		return "", fmt.Errorf("cannot get Secret %s: %w", name, err)
	}
	pw := strings.TrimRight(string(secret.Data[key]), "\r\n")
	if pw == "" {
		return "", apierrors.NewNotFound(corev1.Resource("secrets"), name+"/"+key)
	}
	return pw, nil
}

// checkSource compares the source Secret with the password in force: a
// deleted generated Secret is put back; a deleted user Secret is
// reported, and so is a changed one on a RedisFailover without Redis users
// (with them, a new password is rotated: rotatePassword).
func (r *RedisFailoverReconciler) checkSource(ctx context.Context, rf *haredisv1.RedisFailover, st *state, inForce, source string, sourceErr error) error {
	name, key := specs.PasswordSecretRef(rf)
	switch {
	case sourceErr != nil && rf.Spec.Auth.PasswordSecret == nil:
		if err := r.Create(ctx, specs.AuthSecret(rf, inForce)); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("cannot restore Secret %s: %w", name, err)
		}
		log.FromContext(ctx).Info("restored the deleted password Secret from the password in force", "secret", name)
		r.event(rf, corev1.EventTypeWarning, haredisv1.EventPasswordSecretRestored, "RestoreSecret",
			"Secret %s was deleted; restored it with the password in force (haredis never changes the password behind running pods)", name)
	case sourceErr != nil:
		st.passwordSync = passwordSync{reason: haredisv1.ReasonPasswordSecretMissing, message: fmt.Sprintf(
			"spec.auth.passwordSecret: Secret %s (key %s) is missing; haredis keeps the password in force, and new clients reading %s will fail. Create it again with the password in force (kubectl get secret %s -o jsonpath='{.data.%s}' | base64 -d)",
			name, key, name, rf.ConnectionSecretName(), specs.ConnPassword)}
	case source != inForce:
		st.passwordSync = passwordSync{reason: haredisv1.ReasonPasswordSecretChanged, message: fmt.Sprintf(
			"Secret %s (key %s) holds another password than the one in force; haredis keeps the password in force (clients use %s): this RedisFailover has no Redis users (created by an earlier haredis, status.aclUsers is not true), and only those rotate a password without a restart. Put the previous password back into %s",
			name, key, rf.ConnectionSecretName(), name)}
	}
	return nil
}

// podsRunning tells whether any Redis, sentinel or proxy pod of rf exists.
func (r *RedisFailoverReconciler) podsRunning(ctx context.Context, rf *haredisv1.RedisFailover) (bool, error) {
	var pods corev1.PodList
	if err := r.List(ctx, &pods, client.InNamespace(rf.Namespace), client.MatchingLabels{specs.LabelInstance: rf.Name, specs.LabelManagedBy: specs.ManagedBy}); err != nil {
		return false, fmt.Errorf("cannot list pods: %w", err)
	}
	return len(pods.Items) > 0, nil
}

// passwordSync is what reconcileSecrets found about the source Secret.
type passwordSync struct {
	ok              bool
	reason, message string
}
