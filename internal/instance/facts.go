package instance

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/haredis/haredis/internal/bootrole"
	"github.com/haredis/haredis/internal/redisinfo"
)

// factTimeout bounds each question to a sentinel or a peer.
const factTimeout = time.Second

func newClient(addr, password string) *redis.Client {
	return redis.NewClient(&redis.Options{
		Addr: addr, Password: password,
		DialTimeout: factTimeout, ReadTimeout: factTimeout, WriteTimeout: factTimeout,
		MaxRetries: -1, PoolSize: 1, Protocol: 2, DisableIdentity: true,
	})
}

// gatherFacts asks every sentinel and every peer at once, each bounded by
// factTimeout, and inspects the own volume.
func (m *Manager) gatherFacts(ctx context.Context) bootrole.Facts {
	f := bootrole.Facts{Self: m.opts.Self, InitialPrimary: m.cfg.InitialPrimary}
	own, err := ownData(m.opts.DataDir)
	if err != nil {
		m.log.Error("cannot inspect the data directory; assuming it holds data", "err", err)
		own.HasData = true
	}
	f.Own = own
	pw, pwErr := m.password()
	sentinelPW := ""
	if m.cfg.SentinelAuthEnabled {
		sentinelPW = pw
	}
	f.Sentinels = make([]bootrole.SentinelAnswer, len(m.cfg.Sentinels))
	var wg sync.WaitGroup
	for i, addr := range m.cfg.Sentinels {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.Sentinels[i] = m.askSentinel(ctx, addr, sentinelPW)
		}()
	}
	for _, name := range m.cfg.Instances {
		if name == m.opts.Self {
			continue
		}
		f.Peers = append(f.Peers, bootrole.Peer{Name: name})
	}
	for i := range f.Peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if pwErr != nil {
				f.Peers[i].Err = pwErr.Error()
				return
			}
			f.Peers[i] = m.askPeer(ctx, f.Peers[i].Name, pw)
		}()
	}
	wg.Wait()
	return f
}

func (m *Manager) askSentinel(ctx context.Context, addr, password string) bootrole.SentinelAnswer {
	a := bootrole.SentinelAnswer{Addr: addr}
	c := newClient(addr, password)
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, factTimeout)
	defer cancel()
	res, err := c.Do(ctx, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", m.cfg.MasterName).StringSlice()
	if errors.Is(err, redis.Nil) {
		a.Reachable = true
		return a
	}
	if err != nil {
		a.Err = err.Error()
		return a
	}
	a.Reachable = true
	if len(res) != 2 {
		a.Err = "unexpected reply"
		return a
	}
	a.Known = true
	a.MasterAddr = net.JoinHostPort(res[0], res[1])
	port, _ := strconv.Atoi(res[1])
	a.Master = m.instanceAt(ctx, res[0], port)
	return a
}

// instanceAt maps an address a sentinel or a replica gave to an instance
// name: by host name first, then, when the address is an IP, by resolving
// the instances' host names.
func (m *Manager) instanceAt(ctx context.Context, host string, port int) string {
	if n := m.cfg.InstanceAt(host, port, m.opts.RedisPort); n != "" {
		return n
	}
	if net.ParseIP(host) == nil {
		return ""
	}
	for _, n := range m.cfg.Instances {
		h, p := m.cfg.Address(n, m.opts.RedisPort)
		if p != port {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, factTimeout)
		ips, err := net.DefaultResolver.LookupHost(rctx, h)
		cancel()
		if err != nil {
			continue
		}
		for _, ip := range ips {
			if net.ParseIP(ip).Equal(net.ParseIP(host)) {
				return n
			}
		}
	}
	return ""
}

func (m *Manager) askPeer(ctx context.Context, name, password string) bootrole.Peer {
	p := bootrole.Peer{Name: name}
	host, port := m.cfg.Address(name, m.opts.RedisPort)
	c := newClient(net.JoinHostPort(host, strconv.Itoa(port)), password)
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*factTimeout)
	defer cancel()
	reply, err := c.Do(ctx, "ROLE").Result()
	if err != nil {
		p.Err = err.Error()
		return p
	}
	role, err := redisinfo.ParseRole(reply)
	if err != nil {
		p.Err = err.Error()
		return p
	}
	// INFO without sections (server, replication, persistence, keyspace,
	// ...) works on every Redis version; several sections need Redis 7.
	text, err := c.Info(ctx).Result()
	if err != nil {
		p.Err = err.Error()
		return p
	}
	info := redisinfo.ParseInfo(text)
	p.Reachable = true
	p.Role = role.Role
	p.Offset = role.Offset
	p.Keys = info.Keys()
	p.Loading = info.Loading()
	if role.Role == "slave" {
		p.Following = m.instanceAt(ctx, role.MasterHost, role.MasterPort)
		p.LinkUp = role.State == "connected"
	}
	return p
}
