package sentinel

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/redis/go-redis/v9"
)

// Config says which sentinels to ask about which master.
type Config struct {
	// Addrs are the sentinels' host:port addresses.
	Addrs []string
	// MasterName is the name the sentinels monitor the master under.
	MasterName string
	// SentinelPassword authenticates to the sentinels (empty: no AUTH), as
	// SentinelUser when set.
	SentinelUser, SentinelPassword string
	// RedisPassword authenticates to the Redis instances for ROLE;
	// RedisFallback, when set, is tried when an instance refuses it (one
	// that has not read a rotation's new password yet).
	RedisPassword, RedisFallback string
	// Passwords, when set, gives them at each connection instead of
	// SentinelPassword and RedisPassword: the passwords of a user that
	// follows a rotation. redisFallback, when set, is tried when an
	// instance refuses redisPassword (one that has not read a rotation's
	// new password yet).
	Passwords func() (sentinelPassword, redisPassword, redisFallback string)
	// TLS, when set, is the client config of every connection to the
	// sentinels and the instances.
	TLS *tls.Config
	// PollInterval is how often the primary is asked for even without events,
	// as a safety net for events lost while reconnecting (default 1 s). It is
	// also how soon a silent dead sentinel is noticed.
	PollInterval time.Duration
	// Timeout bounds each dial and each command (default 1 s).
	Timeout time.Duration
	// MaxBackoff caps the wait between rounds over all sentinels (default 2 s).
	MaxBackoff time.Duration
	// InUse, when set, returns the primary the watcher's user routes to
	// now. A user can change it without the watcher: the proxy resumes a
	// planned switchover to the new primary before the sentinels all name
	// it. A +switch-master is then compared with what the user routes to,
	// and so is a poll when the user's primary no longer says it is a
	// master: a failover back to the primary the watcher had announced
	// before is announced again instead of being taken for no change. A
	// poll that merely lags behind the user (the sentinel still names the
	// old primary while the user's is a master) changes nothing.
	InUse func() string
	// Resolve, when set, maps an instance's address as the sentinels
	// report it (a stable host name) to the address to dial for ROLE, ""
	// to dial the reported one. The operator gives the pod IPs it already
	// has, so that confirming a new primary does not wait for cluster
	// DNS. With TLS the reported host name is still the one sent as
	// the server name (SNI).
	Resolve func(addr string) string
	Log     logr.Logger
}

// passwords are the sentinels' and the instances' passwords now.
func (c Config) passwords() (sentinelPassword, redisPassword, redisFallback string) {
	if c.Passwords != nil {
		return c.Passwords()
	}
	return c.SentinelPassword, c.RedisPassword, c.RedisFallback
}

// sentinelCredentials is a go-redis credentials provider of the
// sentinels' password now.
func (c Config) sentinelCredentials() func() (string, string) {
	return func() (string, string) {
		s, _, _ := c.passwords()
		return c.SentinelUser, s
	}
}

// role asks the instance at addr for its role with the instances'
// password now, and with the fallback when it refuses that one.
func (c Config) role(ctx context.Context, addr string) (string, error) {
	_, pw, fallback := c.passwords()
	addr, tlsCfg := c.dialAddr(addr)
	role, err := Role(ctx, addr, Access{Password: pw, TLS: tlsCfg}, c.Timeout)
	if err != nil && fallback != "" && isAuthError(errors.Unwrap(err)) {
		return Role(ctx, addr, Access{Password: fallback, TLS: tlsCfg}, c.Timeout)
	}
	return role, err
}

// dialAddr is where to dial the instance the sentinels report at addr
// (Resolve), with the TLS config that names addr's host to it.
func (c Config) dialAddr(addr string) (string, *tls.Config) {
	if c.Resolve == nil {
		return addr, c.TLS
	}
	to := c.Resolve(addr)
	if to == "" || to == addr {
		return addr, c.TLS
	}
	if c.TLS == nil {
		return to, nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, c.TLS
	}
	t := c.TLS.Clone()
	if t.ServerName == "" {
		t.ServerName = host
	}
	return to, t
}

// EventKind says what a sentinel reported.
type EventKind string

const (
	// EventPrimary: a newly confirmed primary, first seen by asking (at start
	// or by the periodic poll). Old is empty for the first one.
	EventPrimary EventKind = "primary"
	// EventSwitchMaster: +switch-master named a new primary and ROLE confirmed it.
	EventSwitchMaster EventKind = "switch-master"
	// EventSdown, EventSdownCleared, EventOdown: the master (Old) is
	// subjectively down, back up, objectively down, as one sentinel sees it.
	// They are reported unconfirmed: a hint that a failover may follow.
	EventSdown        EventKind = "sdown"
	EventSdownCleared EventKind = "sdown-cleared"
	EventOdown        EventKind = "odown"
	// EventRoleChange: a sentinel saw an instance of the master change its
	// role (+role-change) or turned one into a replica (+convert-to-slave):
	// after a failover, the sign that a sentinel disagrees with it. A hint,
	// like the ones above; Old is the master as that sentinel knows it.
	EventRoleChange EventKind = "role-change"
)

// Event is one change or hint about the primary.
type Event struct {
	Kind EventKind
	// Old is the primary before the change (or the master a hint is about).
	Old string
	// New is the confirmed new primary (empty for hints).
	New string
	// Sentinel is the address of the sentinel that told us.
	Sentinel string
	// Heard is when the watcher heard of it (the message or the answer
	// that named the primary, before the confirmation with ROLE).
	Heard time.Time
	// Master, when set, is what Sentinel answered SENTINEL MASTER right
	// after it announced the switch (ListenSwitches asks at once): the
	// configuration, with its epoch, that named New, unless the sentinel
	// moved on meanwhile.
	Master *Master
}

// Watcher follows one master through a set of sentinels.
type Watcher struct {
	cfg     Config
	onEvent func(Event)

	mu      sync.Mutex
	primary string
	// switchedAt is when a +switch-master last named primary.
	switchedAt time.Time
}

// lagGrace is how long after a +switch-master a poll's answer naming
// another instance is taken for a sentinel that has not heard of the
// switch yet (they learn it from the leader's hello messages, every
// second), as long as the switched-to primary says it is a master.
const lagGrace = 5 * time.Second

// NewWatcher returns a watcher that calls onEvent (from Run's goroutine, in
// order; it should return quickly) for every confirmed change and hint.
func NewWatcher(cfg Config, onEvent func(Event)) *Watcher {
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 2 * time.Second
	}
	if onEvent == nil {
		onEvent = func(Event) {}
	}
	return &Watcher{cfg: cfg, onEvent: onEvent}
}

// Primary returns the last confirmed primary address.
func (w *Watcher) Primary() (addr string, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.primary, w.primary != ""
}

// Run follows the sentinels until ctx ends. It returns ctx's error, or an
// error at once when the configuration cannot work.
func (w *Watcher) Run(ctx context.Context) error {
	if len(w.cfg.Addrs) == 0 || w.cfg.MasterName == "" {
		return errors.New("cannot watch sentinels: no sentinel addresses or no master name")
	}
	backoff := 100 * time.Millisecond
	failures := 0
	for i := 0; ; i++ {
		addr := w.cfg.Addrs[i%len(w.cfg.Addrs)]
		start := time.Now()
		err := w.session(ctx, addr)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		w.cfg.Log.Info("sentinel connection lost, trying the next one", "sentinel", addr, "error", err.Error())
		if time.Since(start) > 2*w.cfg.PollInterval {
			failures, backoff = 0, 100*time.Millisecond
		}
		failures++
		if failures < len(w.cfg.Addrs) {
			continue
		}
		// Every sentinel failed in a row: wait before the next round.
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, w.cfg.MaxBackoff)
	}
}

var channels = []string{"+switch-master", "+failover-end", "+sdown", "-sdown", "+odown", "+role-change", "+convert-to-slave"}

// session follows the master through one sentinel until that fails.
func (w *Watcher) session(ctx context.Context, addr string) error {
	sc := redis.NewSentinelClient(&redis.Options{
		ReadBufferSize: replyBuffer, WriteBufferSize: replyBuffer,
		Addr: addr, CredentialsProvider: w.cfg.sentinelCredentials(), TLSConfig: w.cfg.TLS,
		DialTimeout: w.cfg.Timeout, ReadTimeout: w.cfg.Timeout, WriteTimeout: w.cfg.Timeout,
		MaxRetries: -1, PoolSize: 2,
	})
	defer sc.Close()
	ps := sc.Subscribe(ctx, channels...)
	defer ps.Close()
	// Wait for the subscription before asking, so that a switch between the
	// question and the subscription cannot be missed.
	for range channels {
		msg, err := ps.ReceiveTimeout(ctx, w.cfg.Timeout)
		if err != nil {
			return fmt.Errorf("cannot subscribe to sentinel events: %w", err)
		}
		if _, ok := msg.(*redis.Subscription); !ok {
			break
		}
	}
	if err := w.poll(ctx, sc, addr, EventPrimary); err != nil {
		return err
	}
	// The poll runs every PollInterval also while events keep arriving
	// (a failover publishes many): it is what corrects a primary the
	// user changed without the watcher.
	polled := time.Now()
	for {
		msg, err := ps.ReceiveTimeout(ctx, max(w.cfg.PollInterval-time.Since(polled), time.Millisecond))
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
		case err != nil:
			return fmt.Errorf("cannot receive sentinel events: %w", err)
		default:
			if m, ok := msg.(*redis.Message); ok {
				w.handle(ctx, sc, addr, m.Channel, m.Payload)
			}
		}
		if time.Since(polled) >= w.cfg.PollInterval {
			if err := w.poll(ctx, sc, addr, EventPrimary); err != nil {
				return err
			}
			polled = time.Now()
		}
	}
}

// poll asks the sentinel for the master and confirms a new answer.
func (w *Watcher) poll(ctx context.Context, sc *redis.SentinelClient, sentinel string, kind EventKind) error {
	v, err := sc.GetMasterAddrByName(ctx, w.cfg.MasterName).Result()
	if err != nil {
		return fmt.Errorf("cannot get master address by name: %w", err)
	}
	if len(v) != 2 {
		return fmt.Errorf("cannot use master address %q", v)
	}
	w.confirm(ctx, net.JoinHostPort(v[0], v[1]), kind, sentinel, false)
	return nil
}

func (w *Watcher) handle(ctx context.Context, sc *redis.SentinelClient, sentinel, channel, payload string) {
	f := strings.Fields(payload)
	switch channel {
	case "+switch-master":
		// <master name> <old ip> <old port> <new ip> <new port>
		if len(f) != 5 || f[0] != w.cfg.MasterName {
			return
		}
		w.confirm(ctx, net.JoinHostPort(f[3], f[4]), EventSwitchMaster, sentinel, true)
	case "+failover-end":
		if len(f) >= 2 && f[1] == w.cfg.MasterName {
			// Sentinel sends +failover-end just before +switch-master. The
			// answer is only a poll's: through a Service the question may
			// reach another sentinel, which still names the old primary.
			if err := w.poll(ctx, sc, sentinel, EventSwitchMaster); err != nil {
				w.cfg.Log.Info("cannot ask for the master after failover end", "error", err.Error())
			}
		}
	case "+sdown", "-sdown", "+odown":
		// master <name> <ip> <port> ...; hints about replicas and sentinels
		// are not the watcher's business.
		if len(f) < 4 || f[0] != "master" || f[1] != w.cfg.MasterName {
			return
		}
		kind := map[string]EventKind{"+sdown": EventSdown, "-sdown": EventSdownCleared, "+odown": EventOdown}[channel]
		w.cfg.Log.Info("sentinel hint about the master", "event", channel, "master", net.JoinHostPort(f[2], f[3]), "sentinel", sentinel)
		w.onEvent(Event{Kind: kind, Old: net.JoinHostPort(f[2], f[3]), Sentinel: sentinel})
	case "+role-change", "+convert-to-slave":
		// slave <name> <ip> <port> @ <master name> <master ip> <master port> ...
		if len(f) < 8 || f[4] != "@" || f[5] != w.cfg.MasterName {
			return
		}
		w.cfg.Log.Info("sentinel hint about a role", "event", channel, "instance", net.JoinHostPort(f[2], f[3]), "sentinel", sentinel)
		w.onEvent(Event{Kind: EventRoleChange, Old: net.JoinHostPort(f[6], f[7]), Sentinel: sentinel})
	}
}

// confirm announces candidate once ROLE on the instance says master. A new
// primary may take a moment to answer, so it tries for a few timeouts; if it
// still cannot confirm, the next poll tries again. switched says that a
// sentinel switched its configuration to candidate (+switch-master); a
// poll's answer may come from a sentinel that lags behind another's
// switch, and the old primary of a planned switchover still says master
// until it is demoted.
func (w *Watcher) confirm(ctx context.Context, candidate string, kind EventKind, sentinel string, switched bool) {
	heard := time.Now()
	w.mu.Lock()
	old := w.primary
	w.mu.Unlock()
	if w.cfg.InUse != nil {
		inUse := w.cfg.InUse()
		switch {
		case inUse == "" || inUse == old:
		case candidate == inUse:
			// The sentinels caught up with the user.
			w.mu.Lock()
			w.primary = candidate
			if switched {
				w.switchedAt = heard
			}
			w.mu.Unlock()
			return
		case switched:
			// A sentinel's configuration changed: follow it.
			old = inUse
		case candidate == old:
			// The sentinels still name what the watcher announced last.
			// Either they lag behind the user (whose primary is a master:
			// wait) or they went back (the user's primary was demoted).
			if role, err := w.cfg.role(ctx, inUse); err == nil && role == "master" {
				return
			}
			old = inUse
		default:
			old = inUse
		}
	}
	if candidate == old {
		return
	}
	w.mu.Lock()
	recent := w.primary != "" && w.primary == old && time.Since(w.switchedAt) < lagGrace
	w.mu.Unlock()
	if !switched && recent {
		if role, err := w.cfg.role(ctx, old); err == nil && role == "master" {
			w.cfg.Log.V(1).Info("a sentinel lags behind the switch just seen; ignored", "named", candidate, "primary", old, "sentinel", sentinel)
			return
		}
	}
	var err error
	for attempt := 0; attempt < 10; attempt++ {
		var role string
		if role, err = w.cfg.role(ctx, candidate); err == nil && role == "master" {
			w.mu.Lock()
			w.primary = candidate
			if switched {
				w.switchedAt = heard
			}
			w.mu.Unlock()
			w.cfg.Log.Info("primary confirmed", "event", string(kind), "old", old, "new", candidate, "sentinel", sentinel)
			w.onEvent(Event{Kind: kind, Old: old, New: candidate, Sentinel: sentinel, Heard: heard})
			return
		}
		if err == nil {
			err = fmt.Errorf("role is %q", role)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
	w.cfg.Log.Info("cannot confirm the primary a sentinel named", "candidate", candidate, "sentinel", sentinel, "error", err.Error())
}

// Role asks the Redis instance at addr, reached with a, for the first
// element of ROLE.
func Role(ctx context.Context, addr string, a Access, timeout time.Duration) (string, error) {
	c := redis.NewClient(&redis.Options{
		ReadBufferSize: replyBuffer, WriteBufferSize: replyBuffer,
		Addr: addr, Password: a.Password, TLSConfig: a.TLS, Protocol: 2, DisableIdentity: true,
		DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout, MaxRetries: -1, PoolSize: 1,
	})
	defer c.Close()
	v, err := c.Do(ctx, "ROLE").Slice()
	if err != nil {
		return "", fmt.Errorf("cannot ask %s for its role: %w", addr, err)
	}
	if len(v) == 0 {
		return "", fmt.Errorf("cannot read role of %s: empty reply", addr)
	}
	role, _ := v[0].(string)
	return role, nil
}
