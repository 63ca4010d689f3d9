package instance

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/haredis/haredis/internal/bootrole"
	"github.com/haredis/haredis/internal/instanceapi"
	"github.com/haredis/haredis/internal/redisinfo"
)

// factTimeout bounds each question to a sentinel or a peer.
const factTimeout = time.Second

// newClientAs is a client of a sentinel or another instance, authenticating
// as user ("" for the default user), with TLS when tlsConf is set.
func newClientAs(addr, user, password string, tlsConf *tls.Config) *redis.Client {
	return redis.NewClient(&redis.Options{
		Addr: addr, Username: user, Password: password, TLSConfig: tlsConf,
		DialTimeout: factTimeout, ReadTimeout: factTimeout, WriteTimeout: factTimeout,
		MaxRetries: -1, PoolSize: 1, Protocol: 2, DisableIdentity: true,
	})
}

// peerHTTP asks peer managers; a peer that does not answer within a second
// counts as not answering.
var peerHTTP = &http.Client{Timeout: factTimeout}

// gatherFacts asks every sentinel, then every peer (its redis-server and
// its manager) at once, each bounded by factTimeout, and inspects the own
// volume. The peers are the instances of instance.json, the replicas this
// instance last served as primary and the replicas the sentinels know: a
// member list read before a scale up must not hide the new replicas.
func (m *Manager) gatherFacts(ctx context.Context) bootrole.Facts {
	cfg := m.config()
	f := bootrole.Facts{Self: m.opts.Self, InitialPrimary: cfg.InitialPrimary, Cluster: cfg.ClusterName, Forced: m.forcedPrimary()}
	f.Own = m.ownFacts()
	pw, pwErr := m.password()
	sentinelPW := ""
	if cfg.SentinelAuthEnabled {
		sentinelPW = pw
	}
	// The peers' servers are asked as the admin user where there are Redis
	// users: its password never rotates, while the application's may be
	// new here and not yet there (each pod reads the Secret in its own
	// time), which would make a peer look unreachable.
	peerUser, peerPW, peerErr := m.peerAuth()
	f.Sentinels = make([]bootrole.SentinelAnswer, len(cfg.Sentinels))
	known := make([][]string, len(cfg.Sentinels))
	var wg sync.WaitGroup
	for i, addr := range cfg.Sentinels {
		wg.Go(func() {
			if pwErr != nil && cfg.SentinelAuthEnabled {
				f.Sentinels[i] = bootrole.SentinelAnswer{Addr: addr, Err: pwErr.Error()}
				return
			}
			f.Sentinels[i], known[i] = m.askSentinel(ctx, addr, sentinelPW)
		})
	}
	wg.Wait()
	var fromSentinels []string
	for _, k := range known {
		fromSentinels = append(fromSentinels, k...)
	}
	for _, name := range m.peerNames(fromSentinels) {
		f.Peers = append(f.Peers, bootrole.Peer{Name: name})
	}
	token := m.token()
	for i := range f.Peers {
		wg.Go(func() {
			name := f.Peers[i].Name
			var mgr *bootrole.PeerManager
			var inner sync.WaitGroup
			inner.Go(func() { mgr = m.askPeerManager(ctx, name, token) })
			if peerErr != nil {
				f.Peers[i].Err = peerErr.Error()
			} else {
				f.Peers[i] = m.askPeer(ctx, name, peerUser, peerPW)
			}
			inner.Wait()
			f.Peers[i].Manager = mgr
		})
	}
	wg.Wait()
	m.learnLinks(f)
	m.mu.Lock()
	f.Links = m.data.saved.History
	m.mu.Unlock()
	return f
}

// peerNames are the instances to ask besides this one: instance.json's,
// and those the state file or the sentinels name that instance.json does
// not list yet. An unlisted name with a serial below the highest listed
// one was removed by a scale down (serials are never reused) and is left
// out.
func (m *Manager) peerNames(fromSentinels []string) []string {
	cfg := m.config()
	m.mu.Lock()
	fromState := append([]string(nil), m.data.saved.Replicas...)
	m.mu.Unlock()
	set := map[string]bool{}
	for _, n := range cfg.Instances {
		set[n] = true
	}
	maxSerial := cfg.MaxSerial()
	for _, n := range append(fromState, fromSentinels...) {
		if set[n] {
			continue
		}
		if s := cfg.Serial(n); s != 0 && s <= maxSerial {
			continue
		}
		set[n] = true
	}
	delete(set, m.opts.Self)
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// askSentinel asks one sentinel for the master's address and the replicas
// it knows.
func (m *Manager) askSentinel(ctx context.Context, addr, password string) (bootrole.SentinelAnswer, []string) {
	a := bootrole.SentinelAnswer{Addr: addr}
	c := newClientAs(addr, "", password, m.peerTLS())
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, factTimeout)
	defer cancel()
	cfg := m.config()
	res, err := c.Do(ctx, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", cfg.MasterName).StringSlice()
	if errors.Is(err, redis.Nil) {
		a.Reachable = true
		return a, nil
	}
	if err != nil {
		a.Err = err.Error()
		return a, nil
	}
	a.Reachable = true
	if len(res) != 2 {
		a.Err = "unexpected reply"
		return a, nil
	}
	a.Known = true
	a.MasterAddr = net.JoinHostPort(res[0], res[1])
	port, _ := strconv.Atoi(res[1])
	a.Master = m.instanceAt(ctx, res[0], port)
	var names []string
	reps, err := c.Do(ctx, "SENTINEL", "REPLICAS", cfg.MasterName).Slice()
	if err == nil {
		for _, r := range reps {
			kv := pairs(r)
			p, _ := strconv.Atoi(kv["port"])
			if n := cfg.NameAt(kv["ip"], p, m.opts.RedisPort); n != "" {
				names = append(names, n)
			}
		}
	}
	return a, names
}

// pairs turns a RESP2 flat array of field names and values into a map.
func pairs(v any) map[string]string {
	out := map[string]string{}
	switch l := v.(type) {
	case []any:
		for i := 0; i+1 < len(l); i += 2 {
			k, _ := l[i].(string)
			val, _ := l[i+1].(string)
			out[k] = val
		}
	case map[any]any:
		for k, val := range l {
			ks, _ := k.(string)
			vs, _ := val.(string)
			out[ks] = vs
		}
	}
	return out
}

// instanceAt maps an address a sentinel or a replica gave to an instance
// name: by host name first, then, when the address is an IP, by resolving
// the instances' host names.
func (m *Manager) instanceAt(ctx context.Context, host string, port int) string {
	cfg := m.config()
	if n := cfg.NameAt(host, port, m.opts.RedisPort); n != "" {
		return n
	}
	if net.ParseIP(host) == nil {
		return ""
	}
	for _, n := range cfg.Instances {
		h, p := cfg.Address(n, m.opts.RedisPort)
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

// askPeer asks a peer's redis-server for its role and data set.
func (m *Manager) askPeer(ctx context.Context, name, user, password string) bootrole.Peer {
	p := bootrole.Peer{Name: name}
	cfg := m.config()
	host, port := cfg.Address(name, m.opts.RedisPort)
	c := newClientAs(net.JoinHostPort(host, strconv.Itoa(port)), user, password, m.peerTLS())
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
		p.Unpromotable = info.Int("slave_priority", 100) == 0
	}
	return p
}

// askPeerManager asks a peer's instance manager about itself; nil when it
// does not answer (or refuses this instance's credential).
func (m *Manager) askPeerManager(ctx context.Context, name, token string) *bootrole.PeerManager {
	if token == "" {
		return nil
	}
	c := &instanceapi.Client{BaseURL: "http://" + m.config().ManagerAddress(name), Token: token, HTTP: peerHTTP}
	s, err := c.Status(ctx)
	if err != nil || s.Name != name || (s.MasterName != "" && s.MasterName != m.config().MasterName) {
		return nil
	}
	return &bootrole.PeerManager{Phase: s.Phase, HasData: s.HasData, Position: s.DataPosition, Promotable: s.Promotable, Links: s.History, DataError: s.DataError}
}
