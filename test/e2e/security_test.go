package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/instanceapi"
	"github.com/haredis/haredis/internal/plugin"
	"github.com/haredis/haredis/internal/proxyapi"
	"github.com/haredis/haredis/internal/redistest"
	"github.com/haredis/haredis/internal/specs"
	"github.com/haredis/haredis/internal/writeload"
)

// TestRestrictedNamespaceAcceptsEveryPod: in a namespace that enforces the
// Pod Security Standards' restricted profile, a RedisFailover with its
// sentinels and proxies becomes Ready, and every container runs as the
// non-root pod user, cannot write its root filesystem, and has no
// service-account token.
func TestRestrictedNamespaceAcceptsEveryPod(t *testing.T) {
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "restricted-", Labels: map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted",
		"pod-security.kubernetes.io/warn":    "restricted",
	}}}
	if err := kc.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	retireNamespace(t, ns)
	// The API server enforces the profile: a privileged pod is refused.
	bad := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "root"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: redisImage}}}}
	if err := kc.Create(ctx, bad); err == nil || !strings.Contains(err.Error(), "restricted") {
		t.Fatalf("a pod without a security context in a restricted namespace: %v, want refused by PodSecurity", err)
	}

	rf := &haredisv1.RedisFailover{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "app"}}
	if err := kc.Create(ctx, rf); err != nil {
		t.Fatal(err)
	}
	ready := waitRFReady(t, ns.Name, "app", 5*time.Minute)
	t.Run("the application user cannot administer the instances", func(t *testing.T) {
		checkApplicationUser(t, ready)
	})
	t.Run("users declared by the RedisFailover", func(t *testing.T) {
		checkDeclaredUsers(t, ready)
	})
	t.Run("the application's password cannot pause a proxy", func(t *testing.T) {
		checkProxyAdminToken(t, ready)
	})
	t.Run("the application password rotates under load", func(t *testing.T) {
		checkPasswordRotation(t, ready)
	})

	var pods corev1.PodList
	if err := kc.List(ctx, &pods, client.InNamespace(ns.Name)); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, p := range pods.Items {
		kinds[p.Labels[specs.LabelComponent]]++
		if p.Spec.AutomountServiceAccountToken == nil || *p.Spec.AutomountServiceAccountToken {
			t.Errorf("pod %s mounts a service-account token", p.Name)
		}
		for _, c := range p.Spec.Containers {
			h, err := env.Bed.Pod(ctx, ns.Name, p.Name)
			if err != nil {
				t.Fatal(err)
			}
			pid, err := h.PID(c.Name)
			if err != nil {
				t.Fatal(err)
			}
			status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
			if err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf("%d", specs.PodUser)
			for _, field := range []string{"Uid:", "Gid:"} {
				for _, line := range strings.Split(string(status), "\n") {
					if f := strings.Fields(line); len(f) == 5 && f[0] == field && (f[1] != want || f[2] != want) {
						t.Errorf("%s/%s runs with %s", p.Name, c.Name, line)
					}
				}
			}
			// The root filesystem is not writable, and no token is there.
			out, _, code, err := h.Exec(ctx, c.Name, nil, "sh", "-c",
				"touch /haredis-probe 2>/dev/null && echo wrote; test -e /var/run/secrets/kubernetes.io/serviceaccount/token && echo token; true")
			if err != nil || code != 0 || out != "" {
				t.Errorf("%s/%s: %q, code %d, %v; want neither a write to / nor a token", p.Name, c.Name, out, code, err)
			}
		}
	}
	if kinds[specs.ComponentRedis] != 3 || kinds[specs.ComponentSentinel] != 3 || kinds[specs.ComponentProxy] != 2 {
		t.Errorf("pods by component %v, want 3 instances, 3 sentinels and 2 proxies", kinds)
	}
}

// checkApplicationUser checks, on a Ready RedisFailover with its proxies,
// that the application user (the password, REDIS_URL) runs no
// administrative command on the primary nor through REDIS_URL, and that
// spec.auth.applicationRules are applied live: a command given back works
// within seconds, and a rule Redis refuses is reported while the rules in
// force stay.
func checkApplicationUser(t *testing.T, rf *haredisv1.RedisFailover) {
	ctx := context.Background()
	ns := rf.Namespace
	pw := password(t, ns, rf.Name)
	primary, err := getPod(ctx, ns, rf.Status.CurrentPrimary)
	if err != nil {
		t.Fatal(err)
	}
	direct := plainClient(podAddr(primary), pw)
	defer direct.Close()
	through := plainClient(strings.TrimPrefix(rf.Status.Endpoints.RedisURL, "redis://"), pw)
	defer through.Close()
	redistest.WaitFor(t, time.Minute, "a write through REDIS_URL", func(ctx context.Context) error {
		return through.Set(ctx, "acl:probe", "1", 0).Err()
	})
	admin := [][]any{{"CONFIG", "SET", "maxmemory", "1"}, {"REPLICAOF", "127.0.0.1", "1"}, {"FAILOVER"},
		{"SHUTDOWN", "NOSAVE"}, {"DEBUG", "SLEEP", "0"}, {"ACL", "SETUSER", "intruder", "on", ">x", "+@all"}, {"KEYS", "*"}}
	for name, c := range map[string]*redis.Client{"the primary": direct, "REDIS_URL": through} {
		for _, cmd := range admin {
			// NOPERM from Redis; the proxy refuses some commands itself
			// (NOPERM too); DEBUG is refused to everyone before the ACL.
			if err := c.Do(ctx, cmd...).Err(); err == nil || !strings.HasPrefix(err.Error(), "NOPERM") && !strings.Contains(err.Error(), "DEBUG command not allowed") {
				t.Errorf("%v on %s as the application user: %v, want NOPERM", cmd, name, err)
			}
		}
		if err := c.Do(ctx, "INFO", "replication").Err(); err != nil {
			t.Errorf("INFO on %s as the application user: %v", name, err)
		}
	}
	if s, err := instanceStatus(ctx, primary); err != nil || !s.RedisUp || s.Role != instanceapi.RolePrimary {
		t.Fatalf("the primary after the refused commands: %+v, %v", s, err)
	}

	setRules := func(rules string) {
		redistest.WaitFor(t, 10*time.Second, "spec.auth.applicationRules set", func(ctx context.Context) error {
			cur, err := getRF(ctx, ns, rf.Name)
			if err != nil {
				return err
			}
			cur.Spec.Auth.ApplicationRules = rules
			return kc.Update(ctx, cur)
		})
	}
	setRules("~* &* +@all -@admin -@dangerous +info +role +keys")
	// The rules reach the instances with the refresh of their mounted
	// instance.json (the bed's kubelet: 10 to 20 s).
	redistest.WaitFor(t, 2*time.Minute, "KEYS allowed on every instance and through REDIS_URL", func(ctx context.Context) error {
		err := eachInstance(ctx, ns, rf.Name, func(ctx context.Context, addr string) error {
			c := plainClient(addr, pw)
			defer c.Close()
			return c.Keys(ctx, "acl:*").Err()
		})
		if err != nil {
			return err
		}
		return through.Keys(ctx, "acl:*").Err()
	})
	setRules("~* &* +@all -@admin -@dangerous +info +role +keys +notacommand")
	redistest.WaitFor(t, 2*time.Minute, "ConfigApplied False with Redis's refusal", func(ctx context.Context) error {
		cur, err := getRF(ctx, ns, rf.Name)
		if err != nil {
			return err
		}
		c := meta.FindStatusCondition(cur.Status.Conditions, haredisv1.ConditionConfigApplied)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != haredisv1.ReasonUsersRefused || !strings.Contains(c.Message, "notacommand") {
			return fmt.Errorf("condition %+v", c)
		}
		return nil
	})
	if err := direct.Keys(ctx, "acl:*").Err(); err != nil {
		t.Errorf("the rules in force changed after a refused rule: KEYS: %v", err)
	}
	setRules("")
	redistest.WaitFor(t, 2*time.Minute, "the default rules back, ConfigApplied True", func(ctx context.Context) error {
		cur, err := getRF(ctx, ns, rf.Name)
		if err != nil {
			return err
		}
		if c := meta.FindStatusCondition(cur.Status.Conditions, haredisv1.ConditionConfigApplied); c == nil || c.Status != metav1.ConditionTrue {
			return fmt.Errorf("condition %+v", c)
		}
		if err := direct.Keys(ctx, "acl:*").Err(); err == nil || !strings.HasPrefix(err.Error(), "NOPERM") {
			return fmt.Errorf("KEYS on the primary: %v, want NOPERM", err)
		}
		return nil
	})
}

// checkDeclaredUsers declares a user with spec.auth.users on a Ready
// RedisFailover and follows it through REDIS_URL and on every instance:
// its rules hold, a new password in its Secret replaces the old one, a
// deleted Secret is reported while the user keeps working, and a user
// removed from the spec is removed from the instances.
func checkDeclaredUsers(t *testing.T, rf *haredisv1.RedisFailover) {
	ctx := context.Background()
	ns := rf.Namespace
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "worker-password"},
		StringData: map[string]string{"password": "w0rker-1"}}
	if err := kc.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}
	setUsers := func(users []haredisv1.RedisUser) {
		redistest.WaitFor(t, 10*time.Second, "spec.auth.users set", func(ctx context.Context) error {
			cur, err := getRF(ctx, ns, rf.Name)
			if err != nil {
				return err
			}
			cur.Spec.Auth.Users = users
			cur.Spec.Auth.PasswordGracePeriod = &metav1.Duration{Duration: 90 * time.Second}
			return kc.Update(ctx, cur)
		})
	}
	setUsers([]haredisv1.RedisUser{{Name: "worker", Rules: "~queue:* +@all -@admin -@dangerous",
		PasswordSecret: haredisv1.SecretKeySelector{Name: secret.Name, Key: "password"}}})
	url := strings.TrimPrefix(rf.Status.Endpoints.RedisURL, "redis://")
	as := func(addr, pw string) *redis.Client {
		return redis.NewClient(&redis.Options{Addr: addr, Username: "worker", Password: pw, Dialer: dial,
			DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second, MaxRetries: -1})
	}
	// everywhere checks that the worker, with pw, writes its keys through
	// REDIS_URL and authenticates on every instance.
	everywhere := func(ctx context.Context, pw string) error {
		c := as(url, pw)
		defer c.Close()
		if err := c.Set(ctx, "queue:1", "job", 0).Err(); err != nil {
			return fmt.Errorf("SET queue:1 through REDIS_URL: %w", err)
		}
		return eachInstance(ctx, ns, rf.Name, func(ctx context.Context, addr string) error {
			c := as(addr, pw)
			defer c.Close()
			return c.Ping(ctx).Err()
		})
	}
	// Secrets reach the instances with the refresh of the mounted Secret
	// (the bed's kubelet: 10 to 20 s).
	redistest.WaitFor(t, 2*time.Minute, "the worker on every instance and through REDIS_URL", func(ctx context.Context) error {
		return everywhere(ctx, "w0rker-1")
	})
	c := as(url, "w0rker-1")
	if err := c.Set(ctx, "other", "x", 0).Err(); err == nil || !strings.HasPrefix(err.Error(), "NOPERM") {
		t.Errorf("the worker SET other through REDIS_URL: %v, want NOPERM (its keys are queue:*)", err)
	}
	c.Close()

	// A rotation under a write load through REDIS_URL: the application
	// keeps writing with the old password (its connections re-authenticate
	// every second) until the new one works everywhere, then moves to it;
	// no command fails, and the old password goes after the grace period.
	var written, failed atomic.Int64
	var lastErr atomic.Value
	var writer atomic.Pointer[redis.Client]
	loadClient := func(pw string) *redis.Client {
		return redis.NewClient(&redis.Options{Addr: url, Username: "worker", Password: pw, Dialer: dial, ConnMaxLifetime: time.Second,
			DialTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second, MaxRetries: -1})
	}
	writer.Store(loadClient("w0rker-1"))
	stop, loadDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(loadDone)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i < 60000; i++ { // at most 10 minutes
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if err := writer.Load().Set(ctx, fmt.Sprintf("queue:load:%d", i%100), i, 0).Err(); err != nil {
				failed.Add(1)
				lastErr.Store(err.Error())
			} else {
				written.Add(1)
			}
		}
	}()
	secret.StringData = map[string]string{"password": "w0rker-2"}
	if err := kc.Update(ctx, secret); err != nil {
		t.Fatal(err)
	}
	redistest.WaitFor(t, 2*time.Minute, "the worker's new password everywhere", func(ctx context.Context) error {
		return everywhere(ctx, "w0rker-2")
	})
	if err := everywhere(ctx, "w0rker-1"); err != nil {
		t.Errorf("the worker's previous password during the grace period: %v", err)
	}
	oldWriter := writer.Swap(loadClient("w0rker-2"))
	redistest.WaitFor(t, 3*time.Minute, "the worker's previous password refused after the grace period", func(ctx context.Context) error {
		old := as(url, "w0rker-1")
		defer old.Close()
		if err := old.Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
			return fmt.Errorf("the worker's previous password through REDIS_URL: %v, want WRONGPASS", err)
		}
		return nil
	})
	close(stop)
	<-loadDone
	oldWriter.Close()
	writer.Load().Close()
	t.Logf("rotation under load: %d writes through REDIS_URL, %d failed", written.Load(), failed.Load())
	if failed.Load() > 0 || written.Load() == 0 {
		t.Errorf("rotation under load: %d writes, %d failed (last: %v), want none failed", written.Load(), failed.Load(), lastErr.Load())
	}

	if err := kc.Delete(ctx, secret); err != nil {
		t.Fatal(err)
	}
	redistest.WaitFor(t, time.Minute, "ConfigApplied False naming the missing Secret", func(ctx context.Context) error {
		cur, err := getRF(ctx, ns, rf.Name)
		if err != nil {
			return err
		}
		c := meta.FindStatusCondition(cur.Status.Conditions, haredisv1.ConditionConfigApplied)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != haredisv1.ReasonUsersRefused ||
			!strings.Contains(c.Message, "spec.auth.users[0] (worker)") || !strings.Contains(c.Message, "worker-password") {
			return fmt.Errorf("condition %+v", c)
		}
		return nil
	})
	if err := everywhere(ctx, "w0rker-2"); err != nil {
		t.Errorf("the worker after its Secret was deleted: %v, want its password kept", err)
	}

	setUsers(nil)
	redistest.WaitFor(t, 2*time.Minute, "the worker removed, ConfigApplied True", func(ctx context.Context) error {
		cur, err := getRF(ctx, ns, rf.Name)
		if err != nil {
			return err
		}
		if c := meta.FindStatusCondition(cur.Status.Conditions, haredisv1.ConditionConfigApplied); c == nil || c.Status != metav1.ConditionTrue {
			return fmt.Errorf("condition %+v", c)
		}
		c := as(url, "w0rker-2")
		defer c.Close()
		if err := c.Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
			return fmt.Errorf("the removed worker through REDIS_URL: %v, want WRONGPASS", err)
		}
		return nil
	})
}

// eachInstance runs check on the address of every instance the
// RedisFailover's status lists, and returns the first error, naming the
// instance.
func eachInstance(ctx context.Context, ns, name string, check func(ctx context.Context, addr string) error) error {
	cur, err := getRF(ctx, ns, name)
	if err != nil {
		return err
	}
	for _, is := range cur.Status.Instances {
		p, err := getPod(ctx, ns, is.Name)
		if err != nil {
			return err
		}
		if err := check(ctx, podAddr(p)); err != nil {
			return fmt.Errorf("%s: %w", is.Name, err)
		}
	}
	return nil
}

// checkProxyAdminToken: a proxy's pause and resume take the proxies' admin
// token of NAME-internal, never the password every application holds.
func checkProxyAdminToken(t *testing.T, rf *haredisv1.RedisFailover) {
	ctx := context.Background()
	var proxies corev1.PodList
	if err := kc.List(ctx, &proxies, client.InNamespace(rf.Namespace), client.MatchingLabels{specs.LabelComponent: specs.ComponentProxy}); err != nil || len(proxies.Items) == 0 {
		t.Fatalf("proxy pods: %v, %d", err, len(proxies.Items))
	}
	internal := &corev1.Secret{}
	if err := kc.Get(ctx, client.ObjectKey{Namespace: rf.Namespace, Name: specs.InternalSecretName(rf)}, internal); err != nil {
		t.Fatal(err)
	}
	token := string(internal.Data[proxyapi.TokenKey])
	if token == "" {
		t.Fatalf("Secret %s has no %s", internal.Name, proxyapi.TokenKey)
	}
	base := "http://" + net.JoinHostPort(proxies.Items[0].Status.PodIP, strconv.Itoa(specs.ProxyAdminPort))
	hc := env.MetricsHTTPClient(10 * time.Second) // dials into the bed's pod network
	err := proxyapi.Client{BaseURL: base, Token: password(t, rf.Namespace, rf.Name), HTTP: hc}.Pause(ctx, time.Second)
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("a pause with the application's password: %v, want 401", err)
	}
	admin := proxyapi.Client{BaseURL: base, Token: token, HTTP: hc}
	if err := admin.Pause(ctx, time.Second); err != nil {
		t.Fatalf("a pause with the admin token: %v", err)
	}
	if err := admin.Resume(ctx, ""); err != nil {
		t.Fatalf("a resume with the admin token: %v", err)
	}
	if s, err := admin.Status(ctx); err != nil || s.Paused {
		t.Errorf("the proxy after the resume: %+v, %v", s, err)
	}
}

// checkPasswordRotation: a new password in NAME-auth is rotated in two
// phases under a write load through REDIS_URL and through Sentinel, by
// clients that take the password from NAME-connection for each new
// connection: no command fails and no pod restarts; both passwords work
// everywhere during the grace period, then only the new one.
func checkPasswordRotation(t *testing.T, rf *haredisv1.RedisFailover) {
	ctx := context.Background()
	ns := rf.Namespace
	cur, err := getRF(ctx, ns, rf.Name)
	if err != nil {
		t.Fatal(err)
	}
	cur.Spec.Auth.PasswordGracePeriod = &metav1.Duration{Duration: 45 * time.Second}
	if err := kc.Update(ctx, cur); err != nil {
		t.Fatal(err)
	}
	restartsBefore := podRestarts(t, ns)
	old := password(t, ns, rf.Name)
	connPassword := func(ctx context.Context) (string, error) {
		s := &corev1.Secret{}
		if err := kc.Get(ctx, client.ObjectKey{Namespace: ns, Name: rf.ConnectionSecretName()}, s); err != nil {
			return "", err
		}
		return string(s.Data[specs.ConnPassword]), nil
	}
	// The clients take NAME-connection's password for each new connection
	// (read every half second), and connections live a second.
	var inUse atomic.Pointer[string]
	inUse.Store(&old)
	lctx, stopLoad := context.WithTimeout(ctx, 8*time.Minute)
	defer stopLoad()
	go func() {
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-lctx.Done():
				return
			case <-tick.C:
			}
			if pw, err := connPassword(lctx); err == nil && pw != "" {
				inUse.Store(&pw)
			}
		}
	}()
	creds := func() (string, string) { return "", *inUse.Load() }
	viaURL := redis.NewClient(&redis.Options{Addr: strings.TrimPrefix(rf.Status.Endpoints.RedisURL, "redis://"), CredentialsProvider: creds,
		Dialer: dial, ConnMaxLifetime: time.Second, DialTimeout: time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: time.Second, MaxRetries: -1})
	defer viaURL.Close()
	viaSentinel := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: rf.Status.MasterName, SentinelAddrs: []string{rf.Status.Endpoints.Sentinel},
		SentinelPassword: old, CredentialsProvider: creds, Dialer: dial, ConnMaxLifetime: time.Second,
		DialTimeout: time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: time.Second, MaxRetries: -1})
	defer viaSentinel.Close()
	urlLoad := writeload.Start(lctx, viaURL, writeload.Options{Prefix: "rotation-url", Interval: 5 * time.Millisecond})
	sentinelLoad := writeload.Start(lctx, viaSentinel, writeload.Options{Prefix: "rotation-sentinel", Interval: 5 * time.Millisecond})
	for _, l := range []*writeload.Load{urlLoad, sentinelLoad} {
		if err := l.WaitAcked(lctx, 100); err != nil {
			t.Fatal(err)
		}
	}

	// kubectl haredis rotate: a new password in NAME-auth, waited for
	// until NAME-connection holds it.
	var out strings.Builder
	if err := plugin.Rotate(ctx, kc, &out, ns, rf.Name, 3*time.Minute); err != nil {
		t.Fatalf("rotate: %v\n%s", err, out.String())
	}
	t.Logf("rotate:\n%s", out.String())
	newPassword := password(t, ns, rf.Name)
	if newPassword == old {
		t.Fatal("rotate left the password as it was")
	}
	if pw, err := connPassword(ctx); err != nil || pw != newPassword {
		t.Fatalf("NAME-connection after rotate: %v", err)
	}
	if !strings.Contains(out.String(), "accepted until") {
		t.Errorf("rotate does not say until when the previous password is accepted:\n%s", out.String())
	}
	// During the grace period both work everywhere.
	var pods corev1.PodList
	if err := kc.List(ctx, &pods, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	everywhere := func(ctx context.Context, pw string) error {
		var errs []error
		for _, p := range pods.Items {
			addr := podAddr(&p)
			if p.Labels[specs.LabelComponent] == specs.ComponentSentinel {
				addr = net.JoinHostPort(p.Status.PodIP, strconv.Itoa(specs.SentinelPort))
			}
			c := plainClient(addr, pw)
			if err := c.Ping(ctx).Err(); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", p.Name, err))
			}
			c.Close()
		}
		return errors.Join(errs...)
	}
	for _, pw := range []string{newPassword, old} {
		if err := everywhere(ctx, pw); err != nil {
			t.Errorf("during the grace period: %v", err)
		}
	}
	// The clients go on with the new password, then stop.
	for _, l := range []*writeload.Load{urlLoad, sentinelLoad} {
		if err := l.WaitAcked(lctx, 200); err != nil {
			t.Errorf("the load after NAME-connection switched: %v", err)
		}
	}
	for what, l := range map[string]*writeload.Load{"REDIS_URL": urlLoad, "Sentinel": sentinelLoad} {
		rep := l.Stop()
		t.Logf("load through %s during the rotation: %s", what, rep.Summary())
		if len(rep.Failures) > 0 {
			t.Errorf("writes through %s failed during the rotation: %s", what, rep.Summary())
		}
		if lost, err := rep.Lost(ctx, viaURL); err != nil || len(lost) > 0 {
			t.Errorf("writes through %s acknowledged and not found: %d (%v)", what, len(lost), err)
		}
	}
	// After the grace period only the new password works.
	redistest.WaitFor(t, 3*time.Minute, "the previous password refused everywhere", func(ctx context.Context) error {
		var errs []error
		for _, p := range pods.Items {
			addr := podAddr(&p)
			if p.Labels[specs.LabelComponent] == specs.ComponentSentinel {
				addr = net.JoinHostPort(p.Status.PodIP, strconv.Itoa(specs.SentinelPort))
			}
			c := plainClient(addr, old)
			if err := c.Ping(ctx).Err(); err == nil || !(strings.HasPrefix(err.Error(), "WRONGPASS") || strings.HasPrefix(err.Error(), "NOAUTH")) {
				errs = append(errs, fmt.Errorf("%s takes the previous password: %v", p.Name, err))
			}
			c.Close()
		}
		return errors.Join(errs...)
	})
	if err := everywhere(ctx, newPassword); err != nil {
		t.Errorf("after the rotation: %v", err)
	}
	if c := meta.FindStatusCondition(mustRF(t, ns, rf.Name).Status.Conditions, haredisv1.ConditionPasswordSecretInSync); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("PasswordSecretInSync after the rotation: %+v", c)
	}
	if after := podRestarts(t, ns); after != restartsBefore {
		t.Errorf("containers restarted during the rotation: %d restarts before, %d after", restartsBefore, after)
	}
}

// podRestarts sums the restarts of every container of the namespace.
func podRestarts(t *testing.T, ns string) int32 {
	t.Helper()
	var pods corev1.PodList
	if err := kc.List(context.Background(), &pods, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var n int32
	for _, p := range pods.Items {
		for _, cs := range p.Status.ContainerStatuses {
			n += cs.RestartCount
		}
	}
	return n
}
