package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/acl"
	"github.com/haredis/haredis/internal/specs"
)

// usersStamp identifies the internal users' passwords without holding
// them.
func usersStamp(p acl.Passwords) string {
	return acl.Hash(p.Admin + "\x00" + p.Replication + "\x00" + p.Sentinel)[:16]
}

// ensureUsers sets the internal users up on running instances that an
// earlier haredis started without them (an upgrade): the sentinel and
// replica pods the rolling update starts authenticate as these users, so
// they must exist on every instance before any pod is replaced. It signs
// in as the admin user, else with the password alone (which has every
// right on such an instance), and records the passwords' stamp on the pod.
// Instances started from the current template have the users in their
// redis.conf; instances that do not answer are left alone (a sentinel
// cannot reach them either). Failures keep st.usersMissing, which holds
// the rolling update.
func (r *RedisFailoverReconciler) ensureUsers(ctx context.Context, rf *haredisv1.RedisFailover, st *state) (ctrl.Result, error) {
	st.usersMissing = nil
	if !rf.AuthEnabled() {
		return ctrl.Result{}, nil
	}
	rev, stamp := specs.InstanceRevision(rf, r.Options), usersStamp(st.internal)
	for _, n := range st.instances {
		p := st.pods[n]
		if p == nil || p.DeletionTimestamp != nil || p.Annotations[haredisv1.AnnotationRevision] == rev || p.Annotations[haredisv1.AnnotationUsers] == stamp {
			continue
		}
		addr := r.Reach.RedisAddr(rf, p)
		if addr == "" {
			continue
		}
		err := setUpInternalUsers(ctx, addr, st.password, st.internal)
		if errors.Is(err, errNotAnswering) {
			continue
		}
		if err != nil {
			log.FromContext(ctx).Info("cannot set up the internal users on an instance started by an earlier haredis; the rolling update waits", "instance", n, "error", err.Error())
			st.usersMissing = append(st.usersMissing, fmt.Sprintf("%s (%v)", n, err))
			continue
		}
		patch := client.MergeFrom(p.DeepCopy())
		if p.Annotations == nil {
			p.Annotations = map[string]string{}
		}
		p.Annotations[haredisv1.AnnotationUsers] = stamp
		if err := r.Patch(ctx, p, patch); err != nil {
			return ctrl.Result{}, fmt.Errorf("cannot record the internal users on pod %s: %w", n, err)
		}
		log.FromContext(ctx).Info("set up the internal users on an instance started by an earlier haredis", "instance", n)
	}
	return ctrl.Result{}, nil
}

var errNotAnswering = errors.New("the instance does not answer")

// setUpInternalUsers runs ACL SETUSER for every internal user on the
// server at addr.
func setUpInternalUsers(ctx context.Context, addr, password string, internal acl.Passwords) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var c *redis.Client
	for _, auth := range [][2]string{{acl.AdminUser, internal.Admin}, {"", password}} {
		c = redis.NewClient(&redis.Options{Addr: addr, Username: auth[0], Password: auth[1], DialTimeout: time.Second,
			ReadTimeout: time.Second, WriteTimeout: time.Second, MaxRetries: -1, PoolSize: 1, Protocol: 2, DisableIdentity: true})
		err := c.Ping(ctx).Err()
		if err == nil {
			break
		}
		_ = c.Close()
		c = nil
		if !isAuthError(err) {
			return fmt.Errorf("%w: %v", errNotAnswering, err)
		}
	}
	if c == nil {
		return errors.New("neither the admin user nor the password is accepted")
	}
	defer c.Close()
	for _, u := range acl.InternalUsers(internal) {
		if err := c.Do(ctx, u.SetUserArgs()...).Err(); err != nil {
			return fmt.Errorf("ACL SETUSER %s: %w", u.Name, err)
		}
	}
	return nil
}

func isAuthError(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "WRONGPASS") || strings.HasPrefix(msg, "NOAUTH") || strings.Contains(msg, "invalid username-password")
}

// adminAuth is what the operator authenticates to the instances with.
func adminAuth(rf *haredisv1.RedisFailover, st *state) (user, password string) {
	return internalAuth(rf, st, acl.AdminUser, st.internal.Admin)
}

// sentinelAuth is what the sentinels authenticate to the instances with.
func sentinelAuth(rf *haredisv1.RedisFailover, st *state) (user, password string) {
	return internalAuth(rf, st, acl.SentinelUser, st.internal.Sentinel)
}

// internalAuth is user and password once every running instance has the
// internal users, else the password alone; nothing without auth.
func internalAuth(rf *haredisv1.RedisFailover, st *state, user, password string) (string, string) {
	switch {
	case !rf.AuthEnabled():
		return "", ""
	case len(st.usersMissing) > 0:
		return "", st.password
	}
	return user, password
}

// usersNotReady reports, for the ConfigApplied condition, instances whose
// manager could not set up the Redis users (Redis refused the application
// rules, most often).
func usersNotReady(st *state) []string {
	var out []string
	for _, n := range st.instances {
		if s := st.statuses[n]; s != nil && s.ACLError != "" {
			out = append(out, n+": "+s.ACLError)
		}
	}
	return out
}
