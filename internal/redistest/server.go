package redistest

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// ServerConfig configures one redis-server.
type ServerConfig struct {
	// Binary is the server's executable, a name looked up in PATH or a
	// path (for example a valkey-server); redis-server when empty.
	Binary string
	// Password sets requirepass and masterauth; empty means no auth.
	Password string
	// ReplicaOf is host:port of the primary to replicate, empty for a primary.
	ReplicaOf string
	// Extra holds more redis.conf lines.
	Extra []string
}

// Server is a running redis-server.
type Server struct {
	*process
	cfg ServerConfig
}

// StartServer starts redis-server (or cfg.Binary) on a free loopback port
// in a temporary directory and waits until it answers PING.
func StartServer(cfg ServerConfig) (*Server, error) {
	if cfg.Binary == "" {
		cfg.Binary = "redis-server"
	}
	p, err := newProcess(cfg.Binary, "redis", cfg.Password)
	if err != nil {
		return nil, err
	}
	s := &Server{process: p, cfg: cfg}
	if err := p.start(s.render); err != nil {
		p.Close()
		return nil, fmt.Errorf("cannot start %s: %w", cfg.Binary, err)
	}
	return s, nil
}

func (s *Server) render(port int) string {
	var b strings.Builder
	confLine(&b, "port %d", port)
	confLine(&b, "bind 127.0.0.1")
	confLine(&b, "dir %s", s.dir)
	confLine(&b, "logfile %s/redis.log", s.dir)
	confLine(&b, "save \"\"")
	confLine(&b, "appendonly no")
	confLine(&b, "daemonize no")
	if s.cfg.Password != "" {
		confLine(&b, "requirepass %s", s.cfg.Password)
		confLine(&b, "masterauth %s", s.cfg.Password)
	}
	if s.cfg.ReplicaOf != "" {
		host, port, _ := strings.Cut(s.cfg.ReplicaOf, ":")
		confLine(&b, "replicaof %s %s", host, port)
	}
	for _, l := range s.cfg.Extra {
		confLine(&b, "%s", l)
	}
	return b.String()
}

// Role returns the first element of ROLE ("master", "slave") or an error.
func (s *Server) Role(ctx context.Context) (string, error) {
	c := s.Client()
	defer c.Close()
	return Role(ctx, c)
}

// Role asks a connected client's server for its role.
func Role(ctx context.Context, c *redis.Client) (string, error) {
	v, err := c.Do(ctx, "ROLE").Slice()
	if err != nil {
		return "", fmt.Errorf("cannot run ROLE: %w", err)
	}
	if len(v) == 0 {
		return "", fmt.Errorf("empty ROLE reply")
	}
	role, _ := v[0].(string)
	return role, nil
}

// WaitReplicaInSync waits until this replica reports master_link_status:up.
func (s *Server) WaitReplicaInSync(ctx context.Context) error {
	c := s.Client()
	defer c.Close()
	return Wait(ctx, 20*time.Millisecond, func() error {
		info, err := c.Info(ctx, "replication").Result()
		if err != nil {
			return err
		}
		if !strings.Contains(info, "master_link_status:up") {
			return fmt.Errorf("replica %s not in sync yet", s.Addr())
		}
		return nil
	})
}
