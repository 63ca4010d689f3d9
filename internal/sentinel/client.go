package sentinel

import (
	"context"
	"crypto/tls"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Access is how a client reaches a RedisFailover's sentinels (or, for
// Role, its instances): the password, empty for none, and with TLS the
// client's config (certs), nil for plaintext.
type Access struct {
	// User, when set, is the user Password belongs to (a SentinelPool's
	// admin user); the default user when empty.
	User     string
	Password string
	TLS      *tls.Config
	// Dialer, when set, opens the connections (tests and benchmarks reach
	// the test bed's pods through it); a plain TCP dial when nil.
	Dialer func(ctx context.Context, network, addr string) (net.Conn, error)
}

// replyBuffer sizes the read and write buffers of every connection to a
// sentinel or, for ROLE, to an instance. Their commands and replies are
// small, and the operator keeps several such connections per
// RedisFailover and opens more at each reconcile, while go-redis's
// default of 32 KiB each way is made for large replies and pipelines. A
// longer reply is still read whole.
const replyBuffer = 4 << 10

// Dial is one short-lived connection to the sentinel at addr, with the
// one-second timeouts every question of the operator uses: a sentinel that
// does not answer within a second is not one to wait for.
func Dial(addr string, a Access) *redis.SentinelClient {
	return redis.NewSentinelClient(&redis.Options{
		ReadBufferSize: replyBuffer, WriteBufferSize: replyBuffer, Addr: addr, Username: a.User, Password: a.Password, TLSConfig: a.TLS, Dialer: a.Dialer, DialTimeout: time.Second,
		ReadTimeout: time.Second, WriteTimeout: time.Second, MaxRetries: -1, PoolSize: 1})
}

// Tune sets the Sentinel timing parameters haredis relies on with
// SENTINEL DEBUG (Redis 7.0 and later):
//   - INFO every second instead of every 10 s, so that a changed
//     replica-priority or role is seen within a second;
//   - hello messages every second instead of every 2 s, so that every
//     sentinel (and the clients subscribed to it) learns a new primary
//     within a second of the one that promoted it. Not shorter: a sentinel
//     that sees a replica it knows report the master role waits four hello
//     periods for news of a failover, then turns it back into a replica
//     (+convert-to-slave) if the master it knows looks sane, as the old
//     primary of a planned switchover does. At 200 ms that wait was 0.8 s,
//     less than the leader takes to confirm the promotion (up to an INFO
//     period) and announce it: a sentinel demoted the new primary a second
//     after a switchover, the sentinels failed over back, and the writes
//     the new primary had acknowledged meanwhile were lost. At a second the
//     wait is 4 s, twice the longest announcement;
//   - PING (and reconnection) every 400 ms instead of every second. After
//     +switch-master a sentinel drops its link to the old address and
//     restarts the new primary's down-after clock at once, but reconnects
//     no sooner than one ping period after its last attempt. With the
//     default period and down-after of a second, a sentinel that was
//     retrying the dead old primary could count the new one down before it
//     even dialled it, and start a second, needless failover (seen in tests
//     on Redis 7.0). It also notices a silent primary up to 0.6 s sooner.
//
// The ping period also decides whether Sentinel finds a replica to promote,
// which is why it is not lower. While the primary is down (objectively, or
// as the replica reports its link), Sentinel asks each replica for INFO
// once a second whatever info-period says, on the first timer tick (10 to
// 19 a second) after the last answer is a second old, and
// sentinelSelectSlave skips a replica whose last INFO is older than five
// ping periods (info_validity_time), or whose last PING reply is.
// At 200 ms that limit was the same second: for a tick and a round trip in
// every second each replica was too old to promote, all of them at once
// since they are asked in the same tick, and a failover that chose a
// replica then aborted with -failover-abort-no-good-slave; Sentinel tries
// again only after twice the failover timeout (60 s by default). At 400 ms
// the limit is 2 s: the oldest INFO measured is about 1.1 s, and a sentinel
// stalled long enough to exceed the limit is close to its tilt mode (2 s)
// anyway. A down-after much below a second would want a shorter period for
// the reconnection above; the choice of a replica wins, since losing it
// costs a minute.
//
// Sentinels that do not know SENTINEL DEBUG keep their defaults:
// switchovers then prepare for up to 10 s longer.
func Tune(ctx context.Context, s *redis.SentinelClient) error {
	return s.Process(ctx, redis.NewStatusCmd(ctx, "SENTINEL", "DEBUG", "info-period", "1000", "publish-period", "1000", "ping-period", "400"))
}

// Monitored is what a sentinel needs to monitor a master as haredis set it
// up: where the primary is, the quorum, the password of the instances and
// the timings.
type Monitored struct {
	MasterName string
	Host       string
	Port       int
	Quorum     int
	// AuthUser (may be empty) and AuthPass authenticate the sentinel to
	// the instances.
	AuthUser        string
	AuthPass        string
	DownAfter       time.Duration
	FailoverTimeout time.Duration
}

// Monitor makes the sentinel at addr monitor m (SENTINEL MONITOR, then SET
// of auth-pass and the timings).
func Monitor(ctx context.Context, addr string, a Access, m Monitored) error {
	sc := Dial(addr, a)
	defer sc.Close()
	if err := sc.Monitor(ctx, m.MasterName, m.Host, strconv.Itoa(m.Port), strconv.Itoa(m.Quorum)).Err(); err != nil {
		return err
	}
	if m.AuthUser != "" {
		if err := sc.Set(ctx, m.MasterName, "auth-user", m.AuthUser).Err(); err != nil {
			return err
		}
	}
	if m.AuthPass != "" {
		if err := sc.Set(ctx, m.MasterName, "auth-pass", m.AuthPass).Err(); err != nil {
			return err
		}
	}
	if err := sc.Set(ctx, m.MasterName, "down-after-milliseconds", strconv.FormatInt(m.DownAfter.Milliseconds(), 10)).Err(); err != nil {
		return err
	}
	return sc.Set(ctx, m.MasterName, "failover-timeout", strconv.FormatInt(m.FailoverTimeout.Milliseconds(), 10)).Err()
}

// SetDownAfter sets down-after-milliseconds of masterName on the sentinel
// at addr.
func SetDownAfter(ctx context.Context, addr string, a Access, masterName string, d time.Duration) error {
	sc := Dial(addr, a)
	defer sc.Close()
	return sc.Set(ctx, masterName, "down-after-milliseconds", strconv.FormatInt(d.Milliseconds(), 10)).Err()
}

// SetQuorum sets the quorum of masterName on the sentinel at addr.
func SetQuorum(ctx context.Context, addr string, a Access, masterName string, quorum int) error {
	sc := Dial(addr, a)
	defer sc.Close()
	return sc.Set(ctx, masterName, "quorum", strconv.Itoa(quorum)).Err()
}

// Reset makes the sentinel at addr forget the replicas and sentinels it
// knows for masterName (SENTINEL RESET); it rediscovers the current ones
// within about a second.
func Reset(ctx context.Context, addr string, a Access, masterName string) error {
	sc := Dial(addr, a)
	defer sc.Close()
	return sc.Reset(ctx, masterName).Err()
}

// Failover asks the sentinel at addr to fail masterName over (SENTINEL
// FAILOVER) unless it has a failover in progress already; running tells
// which.
func Failover(ctx context.Context, addr string, a Access, masterName string) (running bool, err error) {
	sc := Dial(addr, a)
	defer sc.Close()
	if m, err := sc.Master(ctx, masterName).Result(); err == nil && strings.Contains(m["flags"], "failover_in_progress") {
		return true, nil
	}
	return false, sc.Failover(ctx, masterName).Err()
}

// Remove makes the sentinel at addr stop monitoring masterName (SENTINEL
// REMOVE); a sentinel that does not know it is left as it is.
func Remove(ctx context.Context, addr string, a Access, masterName string) error {
	sc := Dial(addr, a)
	defer sc.Close()
	err := sc.Remove(ctx, masterName).Err()
	if err != nil && strings.Contains(err.Error(), "No such master") {
		return nil
	}
	return err
}

// CKQuorum asks the sentinel at addr whether the sentinels it can reach
// are enough to agree masterName is down and to elect a leader (SENTINEL
// CKQUORUM). ok false with a nil error is Sentinel's "no": problem says
// why, in its words.
func CKQuorum(ctx context.Context, addr string, a Access, masterName string) (ok bool, problem string, err error) {
	sc := Dial(addr, a)
	defer sc.Close()
	res, err := sc.CkQuorum(ctx, masterName).Result()
	switch {
	case err == nil:
		return true, res, nil
	case strings.HasPrefix(err.Error(), "NOQUORUM"):
		return false, strings.TrimSpace(strings.TrimPrefix(err.Error(), "NOQUORUM")), nil
	default:
		return false, "", err
	}
}

// MasterNames are the names of every master the sentinel at addr
// monitors (SENTINEL MASTERS). It only reads.
func MasterNames(ctx context.Context, addr string, a Access) ([]string, error) {
	sc := Dial(addr, a)
	defer sc.Close()
	res, err := sc.Masters(ctx).Result()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range res {
		if kv, ok := m.(map[any]any); ok {
			if n, ok := kv["name"].(string); ok {
				out = append(out, n)
			}
			continue
		}
		if l, ok := m.([]any); ok {
			for i := 0; i+1 < len(l); i += 2 {
				if k, _ := l[i].(string); k == "name" {
					if n, ok := l[i+1].(string); ok {
						out = append(out, n)
					}
				}
			}
		}
	}
	return out, nil
}
