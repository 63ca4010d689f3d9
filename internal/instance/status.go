package instance

import (
	"context"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

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
}

// redisConn keeps one client to the local redis-server, rebuilt when the
// password changes.
type redisConn struct {
	addr     string
	password func() (string, error)
	mu       sync.Mutex
	pw       string
	c        *redis.Client
}

func newRedisConn(addr string, password func() (string, error)) *redisConn {
	return &redisConn{addr: addr, password: password}
}

func (r *redisConn) client() (*redis.Client, error) {
	pw, err := r.password()
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.c == nil || pw != r.pw {
		if r.c != nil {
			_ = r.c.Close()
		}
		r.c = redis.NewClient(&redis.Options{Addr: r.addr, Password: pw, DialTimeout: time.Second,
			ReadTimeout: 2 * time.Second, WriteTimeout: time.Second, MaxRetries: -1, PoolSize: 4,
			Protocol: 2, DisableIdentity: true})
		r.pw = pw
	}
	return r.c, nil
}

func (m *Manager) observe(o observed) {
	m.mu.Lock()
	m.observed = o
	m.mu.Unlock()
}

// pollLoop reads INFO from the local redis-server every second for
// /status, /readyz and /metrics, and records the replication state on the
// volume for later boot decisions.
func (m *Manager) pollLoop(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var saved state
	_, _ = readJSON(filepath.Join(stateDir(m.opts.DataDir), "state.json"), &saved)
	masters := map[string]*redis.Client{}
	defer func() {
		for _, c := range masters {
			_ = c.Close()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		m.mu.Lock()
		running := m.proc != nil && !m.proc.Exited()
		m.mu.Unlock()
		if !running {
			continue
		}
		o := m.pollOnce(ctx, masters)
		m.observe(o)
		if o.Up {
			saved = m.saveState(saved, o)
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
	o.Up, o.Repl, o.Keys, o.Loading = true, repl, info.Keys(), info.Loading()
	o.RunID, o.PID = info["run_id"], info.Int("process_id", 0)
	if repl.Role == "master" {
		o.LagBytes = 0
		return o
	}
	o.MasterAddr = net.JoinHostPort(repl.MasterHost, strconv.Itoa(repl.MasterPort))
	mc, ok := masters[o.MasterAddr]
	if !ok {
		pw, _ := m.password()
		mc = newClient(o.MasterAddr, pw)
		masters[o.MasterAddr] = mc
	}
	if mt, err := mc.Info(pctx, "replication").Result(); err == nil {
		if mr, err := redisinfo.ParseInfo(mt).Replication(); err == nil && mr.Role == "master" {
			o.LagBytes = max(mr.Offset-repl.Offset, 0)
		}
	}
	return o
}

// saveState writes state.json when the role or replication id changes, the
// data set becomes non-empty, or every 30 s while the offset moves.
func (m *Manager) saveState(prev state, o observed) state {
	next := state{Role: o.Repl.Role, Offset: o.Repl.Offset, ReplID: o.Repl.ReplID, Keys: o.Keys,
		HadData: prev.HadData || o.Keys > 0, Updated: time.Now()}
	changed := next.Role != prev.Role || next.ReplID != prev.ReplID || next.HadData != prev.HadData ||
		(next.Offset != prev.Offset && time.Since(prev.Updated) > 30*time.Second)
	if !changed {
		return prev
	}
	if err := writeJSON(filepath.Join(stateDir(m.opts.DataDir), "state.json"), next); err != nil {
		m.log.Error("cannot record the replication state", "err", err)
		return prev
	}
	return next
}
