package instance

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/haredis/haredis/internal/atomicfile"
	"github.com/haredis/haredis/internal/instanceapi"
	"github.com/haredis/haredis/internal/rdbstream"
)

// bootstrapMarker, in the state directory, records that this volume's
// bootstrap is over (loaded or skipped): the seed is never loaded twice.
const bootstrapMarker = "bootstrapped"

// bootstrapRetry paces the attempts after a download that failed for a
// reason that may pass (the store or the network).
var bootstrapRetry = 10 * time.Second

// errPermanent marks a seed that no retry will make loadable.
var errPermanent = errors.New("permanent")

// bootstrap seeds the empty volume of a new RedisFailover's initial
// primary with the RDB file instance.json names, before redis-server first
// starts: it is downloaded next to the data, checked (its RDB structure and
// CRC64, its SHA-256 when known, a format the server reads) and only then
// renamed to dump.rdb. It does nothing on any other instance, on a volume
// that holds data or was bootstrapped before, or when a peer holds data (a
// volume lost after the seeding must sync from its peers, not be seeded
// again with older data). It returns false when the seed can never be
// loaded: the manager must then start nothing.
func (m *Manager) bootstrap(ctx context.Context) bool {
	b := m.config().Bootstrap
	if b == nil || b.Instance != m.opts.Self || b.FromRedis != nil {
		return true // a live import replicates instead (liveimport.go)
	}
	marker := filepath.Join(stateDir(m.opts.DataDir), bootstrapMarker)
	if _, err := os.Stat(marker); err == nil {
		return true
	}
	skip := func(why string) bool {
		m.setBootstrap(instanceapi.BootstrapStatus{Phase: instanceapi.BootstrapSkipped, Source: b.Source, Error: why})
		m.log.Warn("the seed is not loaded", "source", b.Source, "reason", why)
		if err := atomicfile.Write(marker, []byte(why+"\n"), 0o600); err != nil {
			m.log.Error("cannot record the end of the bootstrap", "err", err)
		}
		return true
	}
	if m.ownFacts().HasData {
		return skip("the volume of " + m.opts.Self + " already holds data")
	}
	for {
		if peer := m.peerWithData(ctx); peer != "" {
			return skip(peer + " holds data")
		}
		st, err := m.loadSeed(ctx, b.Source, b.SHA256)
		switch {
		case err == nil:
			st.Phase = instanceapi.BootstrapLoaded
			m.setBootstrap(st)
			if err := atomicfile.Write(marker, []byte("loaded "+b.Source+"\n"), 0o600); err != nil {
				m.log.Error("cannot record the end of the bootstrap", "err", err)
			}
			m.log.Info("loaded the seed", "source", b.Source, "bytes", st.Bytes, "sha256", st.SHA256, "rdbVersion", st.RDBVersion)
			return true
		case errors.Is(err, errPermanent):
			st.Phase, st.Error = instanceapi.BootstrapFailed, strings.TrimSuffix(err.Error(), ": "+errPermanent.Error())
			m.setBootstrap(st)
			m.log.Error("the seed cannot be loaded; redis-server is not started", "source", b.Source, "err", st.Error)
			return false
		}
		st.Phase, st.Error = instanceapi.BootstrapLoading, err.Error()+"; trying again"
		m.setBootstrap(st)
		m.log.Warn("cannot load the seed yet", "source", b.Source, "err", err)
		select {
		case <-time.After(bootstrapRetry):
		case <-ctx.Done():
			return false
		}
	}
}

// peerWithData names a peer whose manager reports data, "" when none does.
func (m *Manager) peerWithData(ctx context.Context) string {
	for _, p := range m.gatherFacts(ctx).Peers {
		if p.Manager != nil && p.Manager.HasData {
			return p.Name
		}
		if p.Reachable && p.Keys > 0 {
			return p.Name
		}
	}
	return ""
}

// loadSeed downloads the seed into the data directory and checks it; on
// success dump.rdb is the seed.
func (m *Manager) loadSeed(ctx context.Context, source, wantSHA string) (instanceapi.BootstrapStatus, error) {
	st := instanceapi.BootstrapStatus{Phase: instanceapi.BootstrapLoading, Source: source, At: time.Now()}
	m.setBootstrap(st)
	url, err := m.waitSeedURL(ctx, st)
	if err != nil {
		return st, err
	}
	m.setBootstrap(st)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return st, fmt.Errorf("invalid URL of the seed: %w: %w", err, errPermanent)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, fmt.Errorf("cannot download %s: %v", source, redactURLError(err))
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return st, fmt.Errorf("cannot download %s: the store answers 404 Not Found: %w", source, errPermanent)
	case resp.StatusCode != http.StatusOK:
		// A signature that expired or was refused: ask the operator for
		// the URL again.
		m.mu.Lock()
		m.seedURL = ""
		m.mu.Unlock()
		return st, fmt.Errorf("cannot download %s: the store answers %s", source, resp.Status)
	}
	part := filepath.Join(m.opts.DataDir, "dump.rdb.seed")
	defer os.Remove(part)
	f, err := os.OpenFile(part, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return st, fmt.Errorf("cannot create %s: %w", part, err)
	}
	h := sha256.New()
	check := rdbstream.NewChecker(resp.Body)
	n, copyErr := io.Copy(io.MultiWriter(f, h), check)
	syncErr := f.Sync()
	closeErr := f.Close()
	st.Bytes, st.SHA256, st.RDBVersion = n, hex.EncodeToString(h.Sum(nil)), check.Header().RDBVersion
	var notRDB *rdbstream.NotRDBError
	switch {
	case errors.As(copyErr, &notRDB):
		return st, fmt.Errorf("%s is not an RDB file: %v: %w", source, copyErr, errPermanent)
	case errors.Is(copyErr, io.ErrUnexpectedEOF) && resp.ContentLength >= 0 && n == resp.ContentLength:
		// The whole object arrived and is damaged.
		return st, fmt.Errorf("%s is damaged: %v: %w", source, copyErr, errPermanent)
	case copyErr != nil:
		return st, fmt.Errorf("cannot download %s (after %d bytes): %v", source, n, copyErr)
	case syncErr != nil || closeErr != nil:
		return st, fmt.Errorf("cannot write %s: %w", part, errors.Join(syncErr, closeErr))
	case wantSHA != "" && st.SHA256 != wantSHA:
		return st, fmt.Errorf("%s has SHA-256 %s, not %s as spec.bootstrap or the RedisBackup says: %w", source, st.SHA256, wantSHA, errPermanent)
	}
	m.mu.Lock()
	server := m.server
	m.mu.Unlock()
	if server.Known() && !server.Reads(st.RDBVersion) {
		return st, fmt.Errorf("%s is in RDB format %d, which %s cannot read; use an image of a server that reads it (docs/engines.md): %w", source, st.RDBVersion, server, errPermanent)
	}
	if err := os.Rename(part, filepath.Join(m.opts.DataDir, "dump.rdb")); err != nil {
		return st, fmt.Errorf("cannot put the seed in place: %w", err)
	}
	if err := syncDir(m.opts.DataDir); err != nil {
		return st, err
	}
	return st, nil
}

// waitSeedURL waits until the operator hands over the seed's URL.
func (m *Manager) waitSeedURL(ctx context.Context, st instanceapi.BootstrapStatus) (string, error) {
	for {
		m.mu.Lock()
		url, ready := m.seedURL, m.seedReady
		m.mu.Unlock()
		if url != "" {
			return url, nil
		}
		w := st
		w.WaitingForURL = true
		m.setBootstrap(w)
		select {
		case <-ready:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// handlePutSeed takes the seed's URL from the operator.
func (m *Manager) handlePutSeed(w http.ResponseWriter, r *http.Request) {
	var req instanceapi.SeedRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeJSONResponse(w, http.StatusBadRequest, instanceapi.ErrorBody{Error: "cannot parse the request body: " + err.Error()})
		return
	}
	if !strings.HasPrefix(req.URL, "https://") && !strings.HasPrefix(req.URL, "http://") {
		writeJSONResponse(w, http.StatusBadRequest, instanceapi.ErrorBody{Error: "url: must be an http:// or https:// URL"})
		return
	}
	if b := m.config().Bootstrap; b == nil || b.Instance != m.opts.Self {
		writeJSONResponse(w, http.StatusConflict, instanceapi.ErrorBody{Error: "this instance loads no seed (instance.json names none for it)"})
		return
	}
	m.mu.Lock()
	m.seedURL = req.URL
	close(m.seedReady)
	m.seedReady = make(chan struct{})
	m.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (m *Manager) setBootstrap(s instanceapi.BootstrapStatus) {
	if s.At.IsZero() {
		s.At = time.Now()
	}
	m.mu.Lock()
	m.boot = &s
	m.mu.Unlock()
}

// redactURLError keeps a signed URL's query (its signature) out of
// messages: net/http quotes the URL in its errors.
func redactURLError(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "?"); i >= 0 {
		if j := strings.IndexAny(msg[i:], "\": "); j >= 0 {
			return msg[:i] + msg[i+j:]
		}
		return msg[:i]
	}
	return msg
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("cannot open %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("cannot sync %s: %w", dir, err)
	}
	return nil
}
