package sentinel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// ListenSwitches hears +switch-master on every sentinel of cfg at once
// until ctx ends, and calls onSwitch with each announced primary once ROLE
// on it says master (Kind EventSwitchMaster), with the announcing
// sentinel's configuration (Event.Master, asked at the same time as ROLE
// on a connection kept open beside the subscription: on a loaded machine
// each new connection costs round trips that add up to a third of a
// second). A Watcher follows one
// sentinel at a time, which announces a switch only when it learnt it:
// up to a few seconds after the sentinel that led the failover, from its
// hello messages. ListenSwitches hears the leader itself. onSwitch is
// called from one goroutine per sentinel, so concurrently, and for the
// same switch once per sentinel that announces it: the caller keeps what
// it needs (the configuration epoch orders announcements; see AskOne).
func ListenSwitches(ctx context.Context, cfg Config, onSwitch func(Event)) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 2 * time.Second
	}
	for _, addr := range cfg.Addrs {
		go func() {
			backoff := 100 * time.Millisecond
			for ctx.Err() == nil {
				start := time.Now()
				err := listenSwitches(ctx, cfg, addr, onSwitch)
				if ctx.Err() != nil {
					return
				}
				cfg.Log.V(1).Info("lost the sentinel's +switch-master subscription", "sentinel", addr, "error", err.Error())
				if time.Since(start) > cfg.MaxBackoff {
					backoff = 100 * time.Millisecond
				}
				select {
				case <-ctx.Done():
					return
				case <-time.After(backoff):
				}
				backoff = min(2*backoff, cfg.MaxBackoff)
			}
		}()
	}
}

// listenSwitches follows +switch-master on one sentinel until its
// connection fails.
func listenSwitches(ctx context.Context, cfg Config, addr string, onSwitch func(Event)) error {
	sc := redis.NewSentinelClient(&redis.Options{
		ReadBufferSize: replyBuffer, WriteBufferSize: replyBuffer,
		Addr: addr, CredentialsProvider: cfg.sentinelCredentials(), TLSConfig: cfg.TLS,
		DialTimeout: cfg.Timeout, ReadTimeout: cfg.Timeout, WriteTimeout: cfg.Timeout,
		MaxRetries: -1, PoolSize: 1,
	})
	defer sc.Close()
	// The connection that asks SENTINEL MASTER after an announcement; a
	// subscribed connection takes no other command.
	asker := redis.NewSentinelClient(&redis.Options{
		ReadBufferSize: replyBuffer, WriteBufferSize: replyBuffer,
		Addr: addr, CredentialsProvider: cfg.sentinelCredentials(), TLSConfig: cfg.TLS,
		DialTimeout: cfg.Timeout, ReadTimeout: cfg.Timeout, WriteTimeout: cfg.Timeout,
		MaxRetries: 1, PoolSize: 1, DisableIdentity: true,
	})
	defer asker.Close()
	ps := sc.Subscribe(ctx, "+switch-master")
	defer ps.Close()
	if _, err := ps.ReceiveTimeout(ctx, cfg.Timeout); err != nil {
		return fmt.Errorf("cannot subscribe to +switch-master: %w", err)
	}
	// The asking connection only saves the operator a dial: when it
	// fails, the subscription goes on and go-redis dials it again at the
	// next question.
	if err := asker.Ping(ctx).Err(); err != nil {
		cfg.Log.V(1).Info("cannot open the connection that asks the sentinel", "sentinel", addr, "error", err.Error())
	}
	// A silent connection is checked with PING now and then, so that a
	// sentinel that went away is noticed and dialled again.
	idle := 5 * time.Second
	for {
		msg, err := ps.ReceiveTimeout(ctx, idle)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			if err := ps.Ping(ctx); err != nil {
				return fmt.Errorf("cannot ping the sentinel: %w", err)
			}
			if err := asker.Ping(ctx).Err(); err != nil {
				cfg.Log.V(1).Info("cannot ping the sentinel on the asking connection", "sentinel", addr, "error", err.Error())
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("cannot receive +switch-master: %w", err)
		}
		m, ok := msg.(*redis.Message)
		if !ok {
			continue
		}
		heard := time.Now()
		// <master name> <old ip> <old port> <new ip> <new port>
		f := strings.Fields(m.Payload)
		if len(f) != 5 || f[0] != cfg.MasterName {
			continue
		}
		e := Event{Kind: EventSwitchMaster, Old: net.JoinHostPort(f[1], f[2]), New: net.JoinHostPort(f[3], f[4]), Sentinel: addr, Heard: heard}
		asked := make(chan Master, 1)
		go func() { asked <- parseMaster(addr, asker.Master(ctx, cfg.MasterName)) }()
		if !confirmMaster(ctx, e.New, cfg) {
			continue
		}
		// A sentinel slow to answer does not hold the event back: without
		// its answer the caller asks it again.
		select {
		case m := <-asked:
			if m.Answered() && !m.Unknown {
				e.Master = &m
			}
		case <-time.After(askWait):
		}
		onSwitch(e)
	}
}

// askWait is how long an announcement waits, once ROLE confirmed it, for
// the announcing sentinel's answer on the kept connection.
const askWait = 250 * time.Millisecond

// confirmMaster tells whether ROLE on addr says master, trying for about a
// second: the sentinel announces a switch once the promoted replica said
// so, and a loaded instance may take a moment to answer.
func confirmMaster(ctx context.Context, addr string, cfg Config) bool {
	for attempt := 0; attempt < 5; attempt++ {
		if role, err := cfg.role(ctx, addr); err == nil && role == "master" {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(200 * time.Millisecond):
		}
	}
	return false
}
