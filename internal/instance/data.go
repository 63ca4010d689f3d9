package instance

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/haredis/haredis/internal/bootrole"
	"github.com/haredis/haredis/internal/instanceapi"
	"github.com/haredis/haredis/internal/instanceconfig"
	"github.com/haredis/haredis/internal/redisinfo"
	"github.com/haredis/haredis/internal/supervise"
)

// dataState is what the manager knows of its data set. The position of
// the data is tracked here rather than read from Redis alone, because Redis
// gives a primary restarted from an append-only file (and a replica
// restarted from one, until it synchronises) a new replication id at offset
// 0: only the manager remembers how far that data had come.
type dataState struct {
	saved state
	// bootPos is the position of the data the running redis-server loaded;
	// pos the position now.
	bootPos, pos bootrole.Position
	lastWrite    time.Time
}

// state is what the manager remembers across restarts
// (/data/haredis/state.json).
type state struct {
	// MasterName of the RedisFailover the volume last served.
	MasterName string `json:"masterName,omitempty"`
	Role       string `json:"role,omitempty"`
	// Position of the data; Clean says it was written by a clean stop
	// (exact), not sampled while running.
	Position bootrole.Position `json:"position"`
	Clean    bool              `json:"clean,omitempty"`
	Keys     int64             `json:"keys"`
	HadData  bool              `json:"hadData"`
	// Replicas are the instances that replicated from this one when it was
	// primary: peers to ask even if instance.json has not listed them yet.
	Replicas []string `json:"replicas,omitempty"`
	// History holds the links between replication histories this instance
	// saw while running or learnt from its peers (see bootrole.Link): an
	// RDB's header names only the history it was written in.
	History map[string]bootrole.Link `json:"history,omitempty"`
	Updated time.Time                `json:"updated"`
	// Written by managers that kept only an offset.
	LegacyOffset int64  `json:"offset,omitempty"`
	LegacyReplID string `json:"replID,omitempty"`
}

func (m *Manager) statePath() string { return filepath.Join(stateDir(m.opts.DataDir), "state.json") }

// loadState reads state.json once, at start.
func (m *Manager) loadState() {
	var st state
	if _, err := readJSON(m.statePath(), &st); err != nil {
		m.log.Error("ignoring the state file", "err", err)
		st = state{}
	}
	if !st.Position.Known() && st.LegacyReplID != "" {
		st.Position = bootrole.Position{ReplID: st.LegacyReplID, Offset: st.LegacyOffset}
	}
	st.LegacyReplID, st.LegacyOffset = "", 0
	st.Position.Exact = st.Clean
	m.mu.Lock()
	m.data.saved = st
	m.data.pos = st.Position
	m.mu.Unlock()
}

// writeState persists st; the caller holds no lock.
func (m *Manager) writeState(st state) {
	st.Updated = time.Now()
	if err := writeJSON(m.statePath(), st); err != nil {
		m.log.Error("cannot record the replication state", "err", err)
		return
	}
	m.mu.Lock()
	m.data.saved = st
	m.data.lastWrite = time.Now()
	m.mu.Unlock()
}

// ownFacts describes the volume for a boot decision: what is on disk and
// how far it has come.
func (m *Manager) ownFacts() bootrole.OwnData {
	own, rdbPos, err := inspectDataDir(m.opts.DataDir)
	if err != nil {
		m.log.Error("cannot inspect the data directory; assuming it holds data", "err", err)
		own.HasData = true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.data.saved
	own.HadData, own.LastRole = st.HadData, st.Role
	own.Position = st.Position
	// An RDB that Redis will load says exactly where its data stands.
	if rdbPos.Known() && m.loadsRDB() {
		own.Position = rdbPos
	}
	return own
}

// loadsRDB tells whether the next start loads dump.rdb (RDB or None
// persistence, unless an append-only file must be converted).
func (m *Manager) loadsRDB() bool {
	return m.cfg.Persistence != "AOF" && !hasAOF(m.opts.DataDir)
}

// dataBooted records that a redis-server starts with the data own describes
// (as bootrole.BootPosition sees it).
func (m *Manager) dataBooted(own bootrole.OwnData) {
	m.mu.Lock()
	m.data.bootPos, m.data.pos = own.Position, own.Position
	st := m.data.saved
	m.mu.Unlock()
	st.Clean, st.MasterName, st.Position = false, m.config().MasterName, own.Position
	st.Position.Exact = false
	m.writeState(st)
}

// dataObserved follows the position of the running server and records it
// (at most once a second while it moves, at once when the role, the
// history or the replicas change).
func (m *Manager) dataObserved(o observed) {
	live := positionOf(o.Repl)
	cfg := m.config()
	m.mu.Lock()
	d := &m.data
	synced := m.run.synced
	switch {
	case o.Repl.Role == "master":
		switch {
		case live.ReplID == d.pos.ReplID:
			live.Base = d.pos.Base
		case d.bootPos.Known() && live.ReplID2 != d.bootPos.ReplID && live.ReplID != d.bootPos.ReplID:
			// A new history began at boot from the data loaded off disk.
			b := trimBase(d.bootPos, 4)
			live.Base = &b
		}
		live.Head = keepsEveryWrite(o.Stats) && cfg.Persistence == instanceconfig.PersistenceAOF
		d.pos = live
	case synced:
		d.pos = live
	}
	st := d.saved
	next := st
	next.History = mergeHistory(st.History, d.pos)
	next.Role, next.Position, next.Keys, next.HadData = o.Repl.Role, d.pos, o.Keys, st.HadData || o.Keys > 0
	next.Position.Exact = false
	if o.Repl.Role == "master" {
		next.Replicas = replicaNames(cfg, o.Repl.Replicas, m.opts.RedisPort, st.Replicas)
	}
	changed := next.Role != st.Role || next.Position.ReplID != st.Position.ReplID || next.Position.Head != st.Position.Head || next.HadData != st.HadData ||
		!slices.Equal(next.Replicas, st.Replicas) || len(next.History) != len(st.History) ||
		(next.Position.Offset != st.Position.Offset && time.Since(d.lastWrite) >= time.Second)
	m.mu.Unlock()
	if changed {
		m.writeState(next)
	}
}

// replicaNames maps the replicas a primary reports to instance names; the
// instances that replicated before stay listed while the primary keeps
// running, so that a crash right after a replica dropped still knows it.
func replicaNames(cfg interface {
	NameAt(host string, port, defaultPort int) string
}, links []redisinfo.ReplicaLink, redisPort int, before []string) []string {
	set := map[string]bool{}
	for _, n := range before {
		set[n] = true
	}
	for _, l := range links {
		if n := cfg.NameAt(l.IP, l.Port, redisPort); n != "" {
			set[n] = true
		}
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// maxHistory bounds the links a state file keeps: every failover adds one,
// and only links to histories some instance may still hold matter.
const maxHistory = 64

// mergeHistory returns old with the links p and more carry added (a new
// map when anything is added, old otherwise).
func mergeHistory(old map[string]bootrole.Link, p bootrole.Position, more ...map[string]bootrole.Link) map[string]bootrole.Link {
	l := bootrole.NewLinks(p)
	for _, m := range more {
		l.PutAll(m)
	}
	add := l.All()
	var out map[string]bootrole.Link
	for id, k := range add {
		if _, ok := old[id]; ok {
			continue
		}
		if out == nil {
			out = make(map[string]bootrole.Link, len(old)+len(add))
			for oid, ok := range old {
				out[oid] = ok
			}
		}
		if len(out) >= maxHistory {
			for drop := range out {
				delete(out, drop)
				break
			}
		}
		out[id] = k
	}
	if out == nil {
		return old
	}
	return out
}

// learnLinks keeps the history links peers report, so that this instance
// can order its data against data of older histories later.
func (m *Manager) learnLinks(f bootrole.Facts) {
	var more []map[string]bootrole.Link
	var ps []bootrole.Position
	for _, p := range f.Peers {
		if p.Manager != nil {
			more = append(more, p.Manager.Links)
			ps = append(ps, p.Manager.Position)
		}
	}
	m.mu.Lock()
	st := m.data.saved
	h := st.History
	for _, p := range ps {
		h = mergeHistory(h, p)
	}
	h = mergeHistory(h, bootrole.Position{}, more...)
	changed := len(h) != len(st.History)
	st.History = h
	m.mu.Unlock()
	if changed {
		m.writeState(st)
	}
}

// holdWritesForStop holds a primary's writes before it is stopped and
// returns its exact position; nil for a replica or when it cannot be read.
func (m *Manager) holdWritesForStop() *bootrole.Position {
	m.mu.Lock()
	role := m.observed.Repl.Role
	m.mu.Unlock()
	if role != "master" {
		return nil
	}
	c, err := m.redisClient.client()
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ms := strconv.FormatInt(m.opts.StopTimeout.Milliseconds(), 10)
	if err := c.Do(ctx, "CLIENT", "PAUSE", ms, "WRITE").Err(); err != nil {
		return nil
	}
	text, err := c.Info(ctx, "replication").Result()
	if err != nil {
		return nil
	}
	repl, err := redisinfo.ParseInfo(text).Replication()
	if err != nil {
		return nil
	}
	p := positionOf(repl)
	aof := m.config().Persistence == instanceconfig.PersistenceAOF
	m.mu.Lock()
	if p.ReplID == m.data.pos.ReplID {
		p.Base = m.data.pos.Base
	}
	p.Head = keepsEveryWrite(m.observed.Stats) && aof
	m.mu.Unlock()
	return &p
}

// dataStopped records the position after a stop: exact when the server
// stopped cleanly with its writes held.
func (m *Manager) dataStopped(final *bootrole.Position, clean bool) {
	m.mu.Lock()
	st := m.data.saved
	if final != nil {
		m.data.pos = *final
	}
	st.Position = m.data.pos
	m.mu.Unlock()
	st.Clean = clean && final != nil
	st.Position.Exact = st.Clean
	m.writeState(st)
}

// keepsEveryWrite: a primary with these figures writes every command to its
// append-only file before it sends it to a replica, so its volume holds
// every part of its history a replica holds (bootrole.Position.Head). Not
// while the file is being rewritten: when it was just turned on, the data
// is not in it yet.
// Not after a failed write either (a full disk): Redis then keeps the
// commands in memory, has answered the clients and fed the replicas.
func keepsEveryWrite(s redisinfo.Stats) bool {
	return s.AOFEnabled && s.AOFLastWriteOK && !s.AOFRewriting
}

// dropHead records at once, before the append-only file is turned off,
// that the volume no longer keeps every write.
func (m *Manager) dropHead() {
	m.mu.Lock()
	m.data.pos.Head = false
	st := m.data.saved
	was := st.Position.Head
	st.Position.Head = false
	m.mu.Unlock()
	if was {
		m.writeState(st)
	}
}

func positionOf(r redisinfo.Replication) bootrole.Position {
	p := bootrole.Position{ReplID: r.ReplID, Offset: r.Offset, Exact: true}
	if r.ReplID2 != "" && r.SecondOffset > 0 && r.ReplID2 != zeroReplID {
		p.ReplID2, p.SecondOffset = r.ReplID2, r.SecondOffset
	}
	return p
}

const zeroReplID = "0000000000000000000000000000000000000000"

func trimBase(p bootrole.Position, depth int) bootrole.Position {
	if p.Base == nil {
		return p
	}
	if depth <= 1 {
		p.Base = nil
		return p
	}
	b := trimBase(*p.Base, depth-1)
	p.Base = &b
	return p
}

// checkLoadFailure notes why a redis-server that never answered exited,
// when Redis said it could not load its data files.
func (m *Manager) checkLoadFailure(proc *supervise.Process) {
	m.mu.Lock()
	up := m.run.up
	m.mu.Unlock()
	if up || (proc.Status().Exited() && proc.Status().ExitStatus() == 0) {
		return
	}
	if msg := m.output.loadFailure(); msg != "" {
		m.mu.Lock()
		m.dataError = msg
		m.mu.Unlock()
		m.log.Error("redis-server cannot load the data on the volume", "redisError", msg)
	}
}

// quarantineIfReplica moves unreadable data files aside when this instance
// is about to follow a primary that runs and holds data: the replica gets a
// full copy from it, and the files stay on the volume for a human to
// inspect. The recorded primary's files are never moved: they may be the
// only copy, and a human decides (docs: runbooks).
func (m *Manager) quarantineIfReplica(d bootrole.Decision, facts bootrole.Facts) bool {
	m.mu.Lock()
	msg := m.dataError
	m.mu.Unlock()
	if msg == "" || d.Action != bootrole.Replica {
		return false
	}
	p, ok := peerNamed(facts, d.Master)
	if !ok || !p.Reachable || p.Role != "master" || !p.HoldsData() {
		return false
	}
	dir, err := quarantine(m.opts.DataDir, time.Now())
	if err != nil {
		m.log.Error("cannot move the unreadable data files aside", "err", err)
		return false
	}
	m.mu.Lock()
	m.dataError, m.quarantined = "", dir
	m.mu.Unlock()
	m.log.Warn("moved the unreadable data files aside; this replica resynchronises from its primary",
		"dir", dir, "redisError", msg, "primary", d.Master)
	return true
}

func peerNamed(f bootrole.Facts, name string) (bootrole.Peer, bool) {
	for _, p := range f.Peers {
		if p.Name == name {
			return p, true
		}
	}
	return bootrole.Peer{}, false
}

// quarantine moves dump.rdb and the append-only directory into
// haredis/quarantine/TIME/ on the same volume (a rename: no copy, no
// extra space) and returns that directory.
func quarantine(dataDir string, now time.Time) (string, error) {
	dir := filepath.Join(stateDir(dataDir), "quarantine", now.UTC().Format("20060102T150405Z"))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("cannot create %s: %w", dir, err)
	}
	for _, name := range []string{"dump.rdb", "appendonlydir"} {
		err := os.Rename(filepath.Join(dataDir, name), filepath.Join(dir, name))
		if err != nil && !os.IsNotExist(err) {
			return "", fmt.Errorf("cannot move %s aside: %w", name, err)
		}
	}
	return dir, nil
}

// dataStatus fills what Status says about the data set.
func (m *Manager) dataStatus(s *instanceapi.Status, o observed, running bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s.DataPosition = m.data.pos
	s.HasData = m.data.saved.HadData && m.data.saved.Keys > 0
	if running && o.Up {
		s.HasData = o.Keys > 0 || o.Loading
	} else if m.decision != nil {
		s.HasData = m.decision.Facts.Own.HasData
	}
	s.DataError, s.Quarantined = m.dataError, m.quarantined
	s.History = m.data.saved.History
}
