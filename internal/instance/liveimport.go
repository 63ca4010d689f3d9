package instance

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
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
// (409): it then stays a replica of the source.
func (m *Manager) handleCutover(w http.ResponseWriter, r *http.Request) {
	src := m.liveSource()
	if src == nil {
		writeJSONResponse(w, http.StatusConflict, instanceapi.ErrorBody{Error: "this instance runs no live import (or its cutover is over)"})
		return
	}
	m.cutoverMu.Lock()
	defer m.cutoverMu.Unlock()
	res, err := m.cutover(r.Context(), src)
	if err != nil {
		m.log.Warn("the cutover did not happen; the import goes on", "source", src.Addr, "err", err)
		writeJSONResponse(w, http.StatusConflict, instanceapi.ErrorBody{Error: err.Error()})
		return
	}
	writeJSONResponse(w, http.StatusOK, res)
}

// cutover holds the source's writes (CLIENT PAUSE WRITE for CutoverHold),
// waits until the local server has the source's offset, records the end
// of the import and promotes the server.
func (m *Manager) cutover(ctx context.Context, src *instanceconfig.LiveSource) (*instanceapi.CutoverResult, error) {
	if m.liveSource() == nil {
		return nil, errors.New("the cutover is over already")
	}
	m.mu.Lock()
	o := m.observed
	m.mu.Unlock()
	if !o.Up || o.Repl.Role != "slave" || o.MasterAddr != src.Addr || !o.Repl.LinkUp || o.Repl.SyncInProgress || o.Loading {
		return nil, fmt.Errorf("not in sync with the source %s yet: wait until status.liveImport.linkUp is true", src.Addr)
	}
	local, err := m.redisClient.client()
	if err != nil {
		return nil, err
	}
	pw, err := m.password()
	if err != nil {
		return nil, err
	}
	sc := redis.NewClient(&redis.Options{Addr: src.Addr, Password: pw,
		DialTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second,
		MaxRetries: -1, PoolSize: 1, Protocol: 2, DisableIdentity: true})
	defer sc.Close()
	held := time.Now()
	if err := sc.Do(ctx, "CLIENT", "PAUSE", strconv.FormatInt(instanceapi.CutoverHold.Milliseconds(), 10), "WRITE").Err(); err != nil {
		return nil, fmt.Errorf("cannot hold the source's writes with CLIENT PAUSE WRITE (the source must be Redis 6.2 or later, or Valkey): %w", err)
	}
	// On failure the hold is lifted at once; after the cutover it runs its
	// course, so that writers which did not move hold on while the proxies
	// move to the new primary (what reaches the source later is not copied).
	ok := false
	defer func() {
		if ok {
			return
		}
		uctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := sc.Do(uctx, "CLIENT", "UNPAUSE").Err(); err != nil {
			m.log.Warn("cannot lift the hold on the source's writes; it ends by itself", "source", src.Addr, "after", instanceapi.CutoverHold.String(), "err", err)
		}
	}()
	text, err := sc.Info(ctx, "replication").Result()
	if err != nil {
		return nil, fmt.Errorf("cannot read the source's replication offset: %w", err)
	}
	sr, err := redisinfo.ParseInfo(text).Replication()
	if err != nil {
		return nil, fmt.Errorf("cannot read the source's replication offset: %w", err)
	}
	target := sr.Offset
	deadline := held.Add(instanceapi.CutoverHold - 2*time.Second)
	var own int64
	for {
		text, err := local.Info(ctx, "replication").Result()
		if err == nil {
			if r, err := redisinfo.ParseInfo(text).Replication(); err == nil {
				own = r.Offset
				if r.Role == "slave" && r.Offset >= target {
					break
				}
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("did not catch up with the source within %s: at offset %d of %d", time.Since(held).Round(time.Millisecond), own, target)
		}
		select {
		case <-time.After(5 * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	marker := filepath.Join(stateDir(m.opts.DataDir), bootstrapMarker)
	if err := atomicfile.Write(marker, fmt.Appendf(nil, "imported from %s at offset %d\n", src.Addr, own), 0o600); err != nil {
		return nil, fmt.Errorf("cannot record the end of the import: %w", err)
	}
	if err := local.Do(ctx, "REPLICAOF", "NO", "ONE").Err(); err != nil {
		if role, rerr := local.Do(ctx, "ROLE").Slice(); rerr == nil && len(role) > 0 && role[0] == "master" {
			m.log.Warn("the answer to REPLICAOF NO ONE was lost, but the server is a primary", "err", err)
		} else {
			// Still a replica of the source: it took no write, the import
			// may go on.
			if rmErr := os.Remove(marker); rmErr != nil {
				m.log.Error("cannot remove the record of the import's end", "err", rmErr)
			}
			return nil, fmt.Errorf("cannot make the server a primary: %w", err)
		}
	}
	ok = true
	m.mu.Lock()
	m.imported = true
	b := instanceapi.BootstrapStatus{Phase: instanceapi.BootstrapImported, Source: src.Addr, At: time.Now(),
		Import: &instanceapi.ImportStatus{Source: src.Addr, LinkUp: false, Offset: own, SourceOffset: target, LagBytes: 0, CutoverAt: time.Now()}}
	m.boot = &b
	m.mu.Unlock()
	res := &instanceapi.CutoverResult{Offset: own, WritesHeldMilliseconds: time.Since(held).Milliseconds()}
	m.log.Info("cutover: the import is over, this instance is the primary", "source", src.Addr, "offset", own, "writesHeldMs", res.WritesHeldMilliseconds)
	return res, nil
}
