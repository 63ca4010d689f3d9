package instance

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/haredis/haredis/internal/atomicfile"
	"github.com/haredis/haredis/internal/bootrole"
	"github.com/haredis/haredis/internal/instanceapi"
	"github.com/haredis/haredis/internal/instanceconfig"
	"github.com/haredis/haredis/internal/redisinfo"
)

// A live import (instance.json's bootstrap.fromRedis): the initial primary
// runs as a replica of a Redis outside the RedisFailover until the
// operator asks for the cutover (POST /cutover). Then it holds the
// source's writes, waits until it has every one of them, records the end
// of the import on its volume and only then becomes a primary. The record
// comes first: a manager that restarts after it never replicates from the
// source again (a full resynchronisation would drop every write taken
// since), and one that restarts before it finds a replica that took no
// write.

// liveSource is the source of the live import this instance runs; nil when
// it runs none (another instance, no live import, or the cutover is over).
func (m *Manager) liveSource() *instanceconfig.LiveSource {
	b := m.config().Bootstrap
	if b == nil || b.FromRedis == nil || b.Instance != m.opts.Self {
		return nil
	}
	m.mu.Lock()
	imported := m.imported
	m.mu.Unlock()
	if imported {
		return nil
	}
	if _, err := os.Stat(filepath.Join(stateDir(m.opts.DataDir), bootstrapMarker)); err == nil {
		m.mu.Lock()
		m.imported = true
		m.mu.Unlock()
		return nil
	}
	return b.FromRedis
}

// importDecision is the boot decision of an importing instance: a replica
// of the source.
func (m *Manager) importDecision(src *instanceconfig.LiveSource) bootrole.Decision {
	m.setBootstrap(instanceapi.BootstrapStatus{Phase: instanceapi.BootstrapImporting, Source: src.Addr,
		Import: &instanceapi.ImportStatus{Source: src.Addr, LagBytes: -1, Problem: "redis-server starts"}})
	d := bootrole.Decision{Action: bootrole.Replica, MasterAddr: src.Addr,
		Reason: "live import: replicates from the source " + src.Addr + " until the cutover"}
	m.mu.Lock()
	m.decision = &instanceapi.DecisionRecord{Decision: d, At: time.Now(), Since: time.Now()}
	m.mu.Unlock()
	m.log.Info("boot decision", "action", string(d.Action), "masterAddr", d.MasterAddr, "reason", d.Reason)
	return d
}

// observeImport turns what the poll saw into the import's status.
func (m *Manager) observeImport(src *instanceconfig.LiveSource, o observed) {
	im := &instanceapi.ImportStatus{Source: src.Addr, LagBytes: -1}
	onSource := o.Up && o.Repl.Role == "slave" && o.MasterAddr == src.Addr
	switch {
	case !o.Up:
		im.Problem = "redis-server does not answer: " + o.Err
	case !onSource:
		im.Problem = fmt.Sprintf("redis-server runs as %s, not as a replica of the source", o.Repl.Role)
	case o.MasterErr != "":
		im.Problem = "cannot ask the source: " + o.MasterErr
		onSource = false // its offset, and so the lag, is not known
	case o.Repl.SyncInProgress || o.Loading:
		im.Problem = "the first synchronisation with the source runs"
	case !o.Repl.LinkUp:
		im.Problem = "the link to the source is down (the server's log says why)"
	}
	if onSource {
		im.Offset = o.Repl.Offset
		im.LinkUp = o.Repl.LinkUp && !o.Repl.SyncInProgress && !o.Loading
		if im.LinkUp && o.LagBytes >= 0 {
			im.LagBytes, im.SourceOffset = o.LagBytes, o.Repl.Offset+o.LagBytes
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.boot == nil || m.boot.Phase != instanceapi.BootstrapImporting {
		return
	}
	b := *m.boot
	b.Import, b.At = im, time.Now()
	m.boot = &b
}

// handleCutover makes the importing server the writer, or says why not
// (409): it then stays a replica of the source. Asked again after the
// cutover, it answers with the recorded outcome.
func (m *Manager) handleCutover(w http.ResponseWriter, r *http.Request) {
	m.cutoverMu.Lock()
	defer m.cutoverMu.Unlock()
	src := m.liveSource()
	if src == nil {
		if b := m.bootStatus(); b != nil && b.Phase == instanceapi.BootstrapImported && b.Import != nil {
			writeJSONResponse(w, http.StatusOK, instanceapi.CutoverResult{Offset: b.Import.Offset})
			return
		}
		writeJSONResponse(w, http.StatusConflict, instanceapi.ErrorBody{Error: "this instance runs no live import"})
		return
	}
	res, err := m.cutover(r.Context(), src)
	if err != nil {
		m.log.Warn("the cutover did not happen; the import goes on", "source", src.Addr, "err", err)
		writeJSONResponse(w, http.StatusConflict, instanceapi.ErrorBody{Error: err.Error()})
		return
	}
	writeJSONResponse(w, http.StatusOK, res)
}

// handleCutoverRelease lifts the hold on the source's writes once the
// operator has moved every proxy to the new primary.
func (m *Manager) handleCutoverRelease(w http.ResponseWriter, _ *http.Request) {
	m.releaseHold()
	w.WriteHeader(http.StatusNoContent)
}

// releaseHold lifts the hold on the source's writes, if one is kept.
func (m *Manager) releaseHold() {
	m.mu.Lock()
	h := m.hold
	m.hold = nil
	m.mu.Unlock()
	if h != nil {
		h.release()
	}
}

func (m *Manager) bootStatus() *instanceapi.BootstrapStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.boot
}

// sourceHold keeps the source's writes held (CLIENT PAUSE WRITE, renewed)
// until released, or for instanceapi.CutoverMaxHold at most.
type sourceHold struct {
	c    *redis.Client
	log  interface{ Warn(string, ...any) }
	done chan struct{}
	once sync.Once
	wg   sync.WaitGroup
}

func (m *Manager) holdSource(ctx context.Context, src, password string) (*sourceHold, error) {
	h := &sourceHold{c: redis.NewClient(&redis.Options{Addr: src, Password: password,
		DialTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second,
		MaxRetries: -1, PoolSize: 1, Protocol: 2, DisableIdentity: true}), log: m.log, done: make(chan struct{})}
	pause := func(ctx context.Context) error {
		return h.c.Do(ctx, "CLIENT", "PAUSE", strconv.FormatInt(instanceapi.CutoverHold.Milliseconds(), 10), "WRITE").Err()
	}
	if err := pause(ctx); err != nil {
		h.c.Close()
		return nil, fmt.Errorf("cannot hold the source's writes with CLIENT PAUSE WRITE (the source must be Redis 6.2 or later, or Valkey): %w", err)
	}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		tick := time.NewTicker(instanceapi.CutoverHold / 3)
		defer tick.Stop()
		end := time.After(instanceapi.CutoverMaxHold - instanceapi.CutoverHold)
		for {
			select {
			case <-h.done:
				return
			case <-end:
				return // the last pause runs out by itself
			case <-tick.C:
				pctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				if err := pause(pctx); err != nil {
					h.log.Warn("cannot renew the hold on the source's writes", "source", src, "err", err)
				}
				cancel()
			}
		}
	}()
	return h, nil
}

// release lifts the hold at once.
func (h *sourceHold) release() {
	h.once.Do(func() {
		close(h.done)
		h.wg.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := h.c.Do(ctx, "CLIENT", "UNPAUSE").Err(); err != nil {
			h.log.Warn("cannot lift the hold on the source's writes; it ends by itself", "after", instanceapi.CutoverHold.String(), "err", err)
		}
		h.c.Close()
	})
}

// replicationOf reads INFO replication of c.
func replicationOf(ctx context.Context, c *redis.Client) (redisinfo.Replication, error) {
	text, err := c.Info(ctx, "replication").Result()
	if err != nil {
		return redisinfo.Replication{}, err
	}
	return redisinfo.ParseInfo(text).Replication()
}

// inSyncWith: r is a replica of src whose link is up and not resyncing.
func inSyncWith(r redisinfo.Replication, src string) bool {
	return r.Role == "slave" && net.JoinHostPort(r.MasterHost, strconv.Itoa(r.MasterPort)) == src && r.LinkUp && !r.SyncInProgress
}

// cutover holds the source's writes until the operator releases them
// (POST /cutover/release, after it moved the proxies; CutoverMaxHold at
// most), waits until the local server has the source's offset in the
// source's history, records the end of the import and promotes the server.
func (m *Manager) cutover(ctx context.Context, src *instanceconfig.LiveSource) (*instanceapi.CutoverResult, error) {
	local, err := m.redisClient.client()
	if err != nil {
		return nil, err
	}
	if r, err := replicationOf(ctx, local); err != nil || !inSyncWith(r, src.Addr) {
		return nil, fmt.Errorf("not in sync with the source %s yet (%v): wait until status.liveImport.linkUp is true", src.Addr, err)
	}
	pw, err := m.password()
	if err != nil {
		return nil, err
	}
	held := time.Now()
	h, err := m.holdSource(ctx, src.Addr, pw)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			h.release()
		}
	}()
	sr, err := replicationOf(ctx, h.c)
	if err != nil {
		return nil, fmt.Errorf("cannot read the source's replication offset: %w", err)
	}
	if sr.Role != "master" {
		return nil, fmt.Errorf("the source %s runs as %s, not as a primary", src.Addr, sr.Role)
	}
	deadline := held.Add(instanceapi.CutoverCatchUp)
	var own int64
	for {
		r, err := replicationOf(ctx, local)
		if err == nil {
			own = r.Offset
			if !inSyncWith(r, src.Addr) {
				return nil, fmt.Errorf("lost the link to the source while catching up (at offset %d of %d)", own, sr.Offset)
			}
			// The same history: a source that restarted or failed over has
			// another replication ID, and its offsets say nothing of ours.
			if r.ReplID != sr.ReplID {
				return nil, fmt.Errorf("the source's replication history %s is not the one this server follows (%s); wait until it has synchronised again", sr.ReplID, r.ReplID)
			}
			if r.Offset >= sr.Offset {
				break
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("did not catch up with the source within %s: at offset %d of %d", instanceapi.CutoverCatchUp, own, sr.Offset)
		}
		select {
		case <-time.After(5 * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	// From the record on, a caller that goes away does not stop the
	// promotion half-way.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	marker := filepath.Join(stateDir(m.opts.DataDir), bootstrapMarker)
	if err := atomicfile.Write(marker, fmt.Appendf(nil, "imported from %s at offset %d\n", src.Addr, own), 0o600); err != nil {
		return nil, fmt.Errorf("cannot record the end of the import: %w", err)
	}
	if err := local.Do(pctx, "REPLICAOF", "NO", "ONE").Err(); err != nil {
		r, rerr := replicationOf(pctx, local)
		switch {
		case rerr == nil && r.Role == "master":
			m.log.Warn("the answer to REPLICAOF NO ONE was lost, but the server is a primary", "err", err)
		case rerr == nil && inSyncWith(r, src.Addr):
			// Still a replica of the source: it took no write, the import
			// goes on.
			if rmErr := os.Remove(marker); rmErr != nil {
				m.log.Error("cannot remove the record of the import's end", "err", rmErr)
			}
			return nil, fmt.Errorf("cannot make the server a primary: %w", err)
		default:
			// Not known: the record stays, so the server never follows the
			// source again; it boots as the recorded primary.
			ok = true
			m.mu.Lock()
			m.imported = true
			m.mu.Unlock()
			return nil, fmt.Errorf("cannot tell whether the server became a primary (%v, then %v); it is restarted as one", err, rerr)
		}
	}
	ok = true
	m.replicateOverTLS(pctx)
	now := time.Now()
	m.mu.Lock()
	m.imported, m.hold = true, h
	m.boot = &instanceapi.BootstrapStatus{Phase: instanceapi.BootstrapImported, Source: src.Addr, At: now,
		Import: &instanceapi.ImportStatus{Source: src.Addr, Offset: own, SourceOffset: sr.Offset, CutoverAt: now}}
	m.run.promotable, m.run.why = true, "primary"
	m.mu.Unlock()
	res := &instanceapi.CutoverResult{Offset: own, WritesHeldMilliseconds: time.Since(held).Milliseconds()}
	m.log.Info("cutover: the import is over, this instance is the primary", "source", src.Addr, "offset", own, "catchUpMs", res.WritesHeldMilliseconds)
	return res, nil
}

// restoreImportStatus, at start, reports a live import whose cutover a
// previous run recorded, so the operator learns of it after a restart.
func (m *Manager) restoreImportStatus() {
	b := m.config().Bootstrap
	if b == nil || b.FromRedis == nil || b.Instance != m.opts.Self {
		return
	}
	path := filepath.Join(stateDir(m.opts.DataDir), bootstrapMarker)
	data, err := os.ReadFile(path)
	if err != nil {
		return
	}
	var addr string
	var offset int64
	if _, err := fmt.Sscanf(string(data), "imported from %s at offset %d", &addr, &offset); err != nil {
		return
	}
	at := time.Now()
	if st, err := os.Stat(path); err == nil {
		at = st.ModTime()
	}
	m.mu.Lock()
	m.imported = true
	m.boot = &instanceapi.BootstrapStatus{Phase: instanceapi.BootstrapImported, Source: addr, At: at,
		Import: &instanceapi.ImportStatus{Source: addr, Offset: offset, SourceOffset: offset, CutoverAt: at}}
	m.mu.Unlock()
}
