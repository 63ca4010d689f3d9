package instance

import (
	"context"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/haredis/haredis/internal/bootrole"
	"github.com/haredis/haredis/internal/engine"
	"github.com/haredis/haredis/internal/instanceapi"
	"github.com/haredis/haredis/internal/redisinfo"
)

// observed is what the last poll of the local redis-server saw.
type observed struct {
	Up         bool
	At         time.Time
	Err        string
	Repl       redisinfo.Replication
	Keys       int64
	Loading    bool
	RunID      string
	PID        int64
	LagBytes   int64 // -1 when unknown
	MasterAddr string
	// MasterErr is why the primary this replica follows could not be asked
	// for its offset.
	MasterErr string
	// Durability is what redis-server has (nil when not read).
	Durability *instanceapi.Durability
	// Server is the engine and version INFO server reports.
	Server engine.Server
	// Stats are INFO's figures for the metrics.
	Stats redisinfo.Stats
}

// redisConn keeps one client to the local redis-server, rebuilt when the
// password changes.
type redisConn struct {
	// network and addr: "unix" and a socket path, or "tcp" and an address.
	network, addr string
	auth          func() (user, password string, err error)
	mu            sync.Mutex
	user          string
	pw            string
	c             *redis.Client
}

func newRedisConn(network, addr string, auth func() (string, string, error)) *redisConn {
	return &redisConn{network: network, addr: addr, auth: auth}
}

func (r *redisConn) client() (*redis.Client, error) {
	user, pw, err := r.auth()
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.c == nil || pw != r.pw || user != r.user {
		if r.c != nil {
			_ = r.c.Close()
		}
		r.c = redis.NewClient(&redis.Options{Network: r.network, Addr: r.addr, Username: user, Password: pw, DialTimeout: time.Second,
			ReadTimeout: 2 * time.Second, WriteTimeout: time.Second, MaxRetries: -1, PoolSize: 4,
			Protocol: 2, DisableIdentity: true})
		r.user, r.pw = user, pw
	}
	return r.c, nil
}

func (m *Manager) observe(o observed) {
	m.mu.Lock()
	m.observed = o
	if o.Up {
		m.run.up = true
		if o.Repl.Role == "slave" && o.Repl.LinkUp && !o.Repl.SyncInProgress && !o.Loading {
			m.run.synced = true
		}
	}
	m.mu.Unlock()
}

// pollLoop reads INFO from the local redis-server every second for
// /status, /readyz and /metrics, records the data position on the volume,
// keeps a replica out of Sentinel's choice until it may be promoted, and
// reads instance.json again every few seconds.
func (m *Manager) pollLoop(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	masters := map[string]*redis.Client{}
	defer func() {
		for _, c := range masters {
			_ = c.Close()
		}
	}()
	lastReload := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if time.Since(lastReload) > 5*time.Second {
			m.reloadConfig()
			lastReload = time.Now()
		}
		m.mu.Lock()
		running := m.proc != nil && !m.proc.Exited()
		m.mu.Unlock()
		if !running {
			continue
		}
		o := m.pollOnce(ctx, masters)
		m.observe(o)
		src := m.liveSource()
		if src != nil {
			m.observeImport(src, o)
		}
		if o.Up {
			m.dataObserved(o)
			if src == nil {
				m.managePriority(ctx, o)
			}
			if !o.Loading {
				m.keepUsers(ctx)
				m.checkDrift(ctx)
			}
		}
	}
}

func (m *Manager) pollOnce(ctx context.Context, masters map[string]*redis.Client) observed {
	o := observed{At: time.Now(), LagBytes: -1}
	c, err := m.redisClient.client()
	if err != nil {
		o.Err = err.Error()
		return o
	}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	text, err := c.Info(pctx).Result()
	if err != nil {
		o.Err = err.Error()
		return o
	}
	info := redisinfo.ParseInfo(text)
	repl, err := info.Replication()
	if err != nil {
		o.Err = err.Error()
		return o
	}
	o.Up, o.Repl, o.Keys, o.Loading, o.Stats = true, repl, info.Keys(), info.Loading(), info.Stats()
	o.Server, _ = engine.FromInfo(info)
	o.RunID, o.PID = info["run_id"], info.Int("process_id", 0)
	if v, err := c.ConfigGet(pctx, "min-replicas-*").Result(); err == nil {
		n, err1 := strconv.Atoi(v["min-replicas-to-write"])
		l, err2 := strconv.Atoi(v["min-replicas-max-lag"])
		if err1 == nil && err2 == nil {
			o.Durability = &instanceapi.Durability{MinReplicasToWrite: n, MaxLagSeconds: l}
		}
	}
	if repl.Role == "master" {
		o.LagBytes = 0
		return o
	}
	o.MasterAddr = net.JoinHostPort(repl.MasterHost, strconv.Itoa(repl.MasterPort))
	mc, ok := masters[o.MasterAddr]
	if !ok {
		user, pw, _ := m.peerAuth()
		tlsConf := m.peerTLS()
		if src := m.liveSource(); src != nil && o.MasterAddr == src.Addr {
			// The source of a live import knows the password alone, and
			// speaks no TLS.
			user, tlsConf = "", nil
			pw, _ = m.password()
		}
		mc = newClientAs(o.MasterAddr, user, pw, tlsConf)
		masters[o.MasterAddr] = mc
	}
	if mt, err := mc.Info(pctx, "replication").Result(); err != nil {
		o.MasterErr = err.Error()
	} else if mr, err := redisinfo.ParseInfo(mt).Replication(); err != nil {
		o.MasterErr = err.Error()
	} else if mr.Role != "master" {
		o.MasterErr = "it runs as " + mr.Role
	} else {
		o.LagBytes = max(mr.Offset-repl.Offset, 0)
	}
	return o
}

// promotableEvery is how often a replica that has not synchronised since
// it started asks its peers whether it holds the newest data.
const promotableEvery = 2 * time.Second

// managePriority keeps replica-priority 0 on a replica that has not
// completed a synchronisation since its redis-server started and may hold
// older data than another instance; once it synchronised, or holds data as
// recent as every instance that answers, it gets its normal priority.
// Sentinel reads the priority from INFO, so this decides what it may
// promote. A primary is left alone (a demoted one synchronises first).
func (m *Manager) managePriority(ctx context.Context, o observed) {
	m.mu.Lock()
	run := m.run
	m.mu.Unlock()
	if o.Repl.Role != "slave" || (run.synced && run.promotable) {
		return
	}
	promotable, why := true, "synchronised with its primary since it started"
	if !run.synced {
		if time.Since(run.evaluatedAt) < promotableEvery && run.priority >= 0 {
			return
		}
		f := m.gatherFacts(ctx)
		f.Own.HasData = f.Own.HasData || o.Keys > 0
		m.mu.Lock()
		f.Own.Position = m.data.pos
		m.mu.Unlock()
		f.Waited, f.MaxWait = time.Since(run.started), m.opts.BootWait
		promotable, why = bootrole.Promotable(f)
	}
	want := 0
	if promotable {
		want = m.normalPriority()
	}
	if want != run.priority {
		c, err := m.redisClient.client()
		if err == nil {
			err = c.ConfigSet(ctx, "replica-priority", strconv.Itoa(want)).Err()
		}
		if err != nil {
			m.log.Warn("cannot set replica-priority", "priority", want, "err", err)
			return
		}
		m.log.Info("replica-priority set", "priority", want, "reason", why)
	}
	m.mu.Lock()
	if m.run.started.Equal(run.started) {
		m.run.priority, m.run.promotable, m.run.why, m.run.evaluatedAt = want, promotable, why, time.Now()
	}
	m.mu.Unlock()
}
