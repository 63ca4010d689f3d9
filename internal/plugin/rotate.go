package plugin

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/specs"
)

// Rotate puts a new generated password into Secret NAME-auth of
// RedisFailover ns/name, which the operator rotates in two phases (the
// new password next to the previous one everywhere, NAME-connection
// switched, the previous one removed after spec.auth.passwordGracePeriod)
// and, unless wait is zero, waits until NAME-connection holds it.
func Rotate(ctx context.Context, c client.Client, out io.Writer, ns, name string, wait time.Duration) error {
	rf, err := GetRF(ctx, c, ns, name)
	if err != nil {
		return err
	}
	switch {
	case !rf.AuthEnabled():
		return fmt.Errorf("RedisFailover %s has spec.auth.enabled false: there is no password to rotate", name)
	case !rf.ACLUsersEnabled():
		return fmt.Errorf("RedisFailover %s has no Redis users (status.aclUsers is not true: it was created by an earlier haredis), and only those rotate a password without a restart; see docs/security.md", name)
	case rf.Spec.Auth.PasswordSecret != nil:
		return fmt.Errorf("RedisFailover %s takes its password from your Secret %s (spec.auth.passwordSecret): put the new password under its key %s; haredis rotates it in two phases as it would here",
			name, rf.Spec.Auth.PasswordSecret.Name, rf.Spec.Auth.PasswordSecret.Key)
	}
	pw, err := specs.GeneratePassword()
	if err != nil {
		return err
	}
	secret := &corev1.Secret{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: rf.AuthSecretName()}, secret); err != nil {
		return fmt.Errorf("cannot get Secret %s: %w", rf.AuthSecretName(), err)
	}
	if secret.Data == nil {
		secret.Data = map[string][]byte{}
	}
	secret.Data[specs.PasswordKey] = []byte(pw)
	if err := c.Update(ctx, secret); err != nil {
		return fmt.Errorf("cannot put the new password into Secret %s: %w", rf.AuthSecretName(), err)
	}
	fmt.Fprintf(out, "put a new password into Secret %s; the operator adds it next to the previous one on every sentinel, instance and proxy\n", rf.AuthSecretName())
	if wait == 0 {
		fmt.Fprintf(out, "%s switches to it once every instance and proxy takes it (kubectl haredis status %s)\n", rf.ConnectionSecretName(), name)
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	last := ""
	for {
		conn := &corev1.Secret{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: rf.ConnectionSecretName()}, conn); err == nil && string(conn.Data[specs.ConnPassword]) == pw {
			fmt.Fprintf(out, "%s holds the new password: restart or reload your clients within the grace period; %s\n", rf.ConnectionSecretName(), graceOf(ctx, c, rf))
			return nil
		}
		if cur, err := GetRF(ctx, c, ns, name); err == nil {
			if cond := meta.FindStatusCondition(cur.Status.Conditions, haredisv1.ConditionPasswordSecretInSync); cond != nil && cond.Message != last && cond.Status == "False" {
				fmt.Fprintf(out, "%s\n", cond.Message)
				last = cond.Message
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s does not hold the new password after %s: the rotation goes on; kubectl haredis status %s says what it waits for", rf.ConnectionSecretName(), wait, name)
		case <-tick.C:
		}
	}
}

// graceOf says until when the previous password is accepted, as the
// status says it once the operator has written it (within a few seconds
// of the switch), else from spec.auth.passwordGracePeriod.
func graceOf(ctx context.Context, c client.Client, rf *haredisv1.RedisFailover) string {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	for {
		if cur, err := GetRF(ctx, c, rf.Namespace, rf.Name); err == nil {
			cond := meta.FindStatusCondition(cur.Status.Conditions, haredisv1.ConditionPasswordSecretInSync)
			if cond != nil && cond.Status == "True" && strings.Contains(cond.Message, "until") {
				return cond.Message
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Sprintf("the previous password is accepted for %s after the switch (spec.auth.passwordGracePeriod)", rf.PasswordGracePeriod())
		case <-time.After(time.Second):
		}
	}
}
