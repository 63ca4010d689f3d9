package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/haredis/haredis/internal/engine"
	"github.com/haredis/haredis/internal/quorum"
)

// SetConfig configures a primary, its replicas and the sentinels watching
// them.
type SetConfig struct {
	MasterName string
	Password   string
	Replicas   int
	Sentinels  int
	DownAfter  time.Duration
	// Extra redis.conf lines for every server.
	Extra []string
	// Binaries are the executables of the servers and the sentinels, names
	// looked up in PATH or paths (engine.BinariesOf names Valkey's);
	// redis-server and redis-sentinel when empty.
	Binaries engine.Binaries
}

// Set is a running primary with replicas and sentinels.
type Set struct {
	Cfg       SetConfig
	Servers   []*Server // Servers[0] started as the primary
	Sentinels []*Sentinel
}

// StartSet starts the servers, then the sentinels, and waits until replicas
// are in sync and every sentinel knows every replica and the other sentinels,
// so that a failover can happen at once.
func StartSet(ctx context.Context, cfg SetConfig) (_ *Set, err error) {
	if cfg.MasterName == "" {
		cfg.MasterName = "haredis-test"
	}
	s := &Set{Cfg: cfg}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	primary, err := StartServer(ServerConfig{Binary: cfg.Binaries.Server, Password: cfg.Password, Extra: cfg.Extra})
	if err != nil {
		return nil, err
	}
	s.Servers = append(s.Servers, primary)
	for range cfg.Replicas {
		r, err := StartServer(ServerConfig{Binary: cfg.Binaries.Server, Password: cfg.Password, ReplicaOf: primary.Addr(), Extra: cfg.Extra})
		if err != nil {
			return nil, err
		}
		s.Servers = append(s.Servers, r)
	}
	for _, r := range s.Servers[1:] {
		if err := r.WaitReplicaInSync(ctx); err != nil {
			return nil, fmt.Errorf("cannot bring replica up: %w", err)
		}
	}
	for range cfg.Sentinels {
		sn, err := StartSentinel(SentinelConfig{
			Binary:     cfg.Binaries.Sentinel,
			MasterName: cfg.MasterName, MasterAddr: primary.Addr(), Quorum: quorum.Majority(cfg.Sentinels),
			DownAfter: cfg.DownAfter, Password: cfg.Password,
		})
		if err != nil {
			return nil, err
		}
		s.Sentinels = append(s.Sentinels, sn)
	}
	for _, sn := range s.Sentinels {
		c := sn.SentinelClient()
		err := Wait(ctx, 50*time.Millisecond, func() error {
			reps, err := c.Replicas(ctx, cfg.MasterName).Result()
			if err != nil {
				return err
			}
			others, err := c.Sentinels(ctx, cfg.MasterName).Result()
			if err != nil {
				return err
			}
			if len(reps) < cfg.Replicas || len(others) < cfg.Sentinels-1 {
				return fmt.Errorf("sentinel %s knows %d replicas and %d sentinels", sn.Addr(), len(reps), len(others))
			}
			return nil
		})
		c.Close()
		if err != nil {
			return nil, fmt.Errorf("cannot wait for sentinels to discover the set: %w", err)
		}
	}
	return s, nil
}

// NewSet starts a Set for a test and closes it when the test ends.
func NewSet(t testing.TB, cfg SetConfig) *Set {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := StartSet(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// Close stops every process and removes their directories.
func (s *Set) Close() {
	for _, sn := range s.Sentinels {
		sn.Close()
	}
	for _, r := range s.Servers {
		r.Close()
	}
}

// SentinelAddrs lists the sentinels' addresses.
func (s *Set) SentinelAddrs() []string {
	var out []string
	for _, sn := range s.Sentinels {
		out = append(out, sn.Addr())
	}
	return out
}

// Server returns the server listening on addr, or nil.
func (s *Set) Server(addr string) *Server {
	for _, r := range s.Servers {
		if r.Addr() == addr {
			return r
		}
	}
	return nil
}

// MasterAddr asks the sentinels, in turn, for the current master address.
func (s *Set) MasterAddr(ctx context.Context) (string, error) {
	var errs []error
	for _, sn := range s.Sentinels {
		if !sn.Running() {
			continue
		}
		c := sn.SentinelClient()
		v, err := c.GetMasterAddrByName(ctx, s.Cfg.MasterName).Result()
		c.Close()
		if err == nil && len(v) == 2 {
			return net.JoinHostPort(v[0], v[1]), nil
		}
		errs = append(errs, err)
	}
	return "", fmt.Errorf("cannot get master address from any sentinel: %w", errors.Join(errs...))
}
