package redistest

import (
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// SentinelConfig configures one redis-sentinel monitoring one master.
type SentinelConfig struct {
	// Binary is the sentinel's executable, a name looked up in PATH or a
	// path (for example a valkey-sentinel); redis-sentinel when empty.
	Binary     string
	MasterName string
	MasterAddr string
	Quorum     int
	// DownAfter is down-after-milliseconds (default 1 s).
	DownAfter time.Duration
	// FailoverTimeout is failover-timeout (default 10 s).
	FailoverTimeout time.Duration
	// Password is both Redis's password (auth-pass) and the sentinels' own
	// (requirepass, sentinel-pass), so that sentinels authenticate.
	Password string
	// Extra sentinel.conf lines (for example known-replica).
	Extra []string
}

// Sentinel is a running redis-sentinel.
type Sentinel struct {
	*process
	cfg SentinelConfig
}

// StartSentinel starts redis-sentinel (or cfg.Binary) on a free loopback
// port.
func StartSentinel(cfg SentinelConfig) (*Sentinel, error) {
	if cfg.Binary == "" {
		cfg.Binary = "redis-sentinel"
	}
	if cfg.Quorum == 0 {
		cfg.Quorum = 2
	}
	if cfg.DownAfter == 0 {
		cfg.DownAfter = time.Second
	}
	if cfg.FailoverTimeout == 0 {
		cfg.FailoverTimeout = 10 * time.Second
	}
	p, err := newProcess(cfg.Binary, "sentinel", cfg.Password)
	if err != nil {
		return nil, err
	}
	s := &Sentinel{process: p, cfg: cfg}
	if err := p.start(s.render); err != nil {
		p.Close()
		return nil, fmt.Errorf("cannot start %s: %w", cfg.Binary, err)
	}
	return s, nil
}

func (s *Sentinel) render(port int) string {
	host, mport, _ := strings.Cut(s.cfg.MasterAddr, ":")
	n := s.cfg.MasterName
	var b strings.Builder
	confLine(&b, "port %d", port)
	confLine(&b, "bind 127.0.0.1")
	confLine(&b, "dir %s", s.dir)
	confLine(&b, "logfile %s/redis.log", s.dir)
	confLine(&b, "sentinel monitor %s %s %s %d", n, host, mport, s.cfg.Quorum)
	confLine(&b, "sentinel down-after-milliseconds %s %d", n, s.cfg.DownAfter.Milliseconds())
	confLine(&b, "sentinel failover-timeout %s %d", n, s.cfg.FailoverTimeout.Milliseconds())
	confLine(&b, "sentinel parallel-syncs %s 2", n)
	if s.cfg.Password != "" {
		confLine(&b, "sentinel auth-pass %s %s", n, s.cfg.Password)
		confLine(&b, "requirepass %s", s.cfg.Password)
		confLine(&b, "sentinel sentinel-pass %s", s.cfg.Password)
	}
	for _, l := range s.cfg.Extra {
		confLine(&b, "%s", l)
	}
	return b.String()
}

// SentinelClient returns a go-redis Sentinel client for this sentinel.
func (s *Sentinel) SentinelClient() *redis.SentinelClient {
	return redis.NewSentinelClient(&redis.Options{Addr: s.Addr(), Password: s.password})
}
