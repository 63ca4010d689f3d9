package instance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/haredis/haredis/internal/instanceapi"
)

// keptBackups is how many backups' statuses the manager remembers, so that
// GET /backups/{id} answers after the end of a backup; none survive a
// restart of the manager.
const keptBackups = 16

// backupSet runs one backup at a time and remembers the last ones.
type backupSet struct {
	mu sync.Mutex
	// ctx is the manager's lifetime (Run's context), nil before Run: a
	// backup outlives the request that started it, not the manager.
	ctx context.Context
	// running is the ID of the backup under way, "" when none.
	running string
	// list holds the statuses, oldest first.
	list []*instanceapi.BackupStatus
	wg   sync.WaitGroup
}

// open lets backups start for as long as ctx lasts.
func (b *backupSet) open(ctx context.Context) {
	b.mu.Lock()
	b.ctx = ctx
	b.mu.Unlock()
}

// wait returns once no backup runs: after the end of the manager's
// lifetime, they end promptly (their connections are cut).
func (b *backupSet) wait() { b.wg.Wait() }

func (b *backupSet) find(id string) *instanceapi.BackupStatus {
	for _, s := range b.list {
		if s.ID == id {
			return s
		}
	}
	return nil
}

// get returns a copy of the status of id.
func (b *backupSet) get(id string) (instanceapi.BackupStatus, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if s := b.find(id); s != nil {
		return *s, true
	}
	return instanceapi.BackupStatus{}, false
}

// begin records a new running backup and returns its status, its context
// and the HTTP code to answer: 202 when it starts, 200 with the status of a
// backup of the same ID, 409 when another runs, 503 when the manager stops.
func (b *backupSet) begin(req instanceapi.BackupRequest, role string) (instanceapi.BackupStatus, context.Context, int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if s := b.find(req.ID); s != nil {
		return *s, nil, http.StatusOK, nil
	}
	if b.running != "" {
		return instanceapi.BackupStatus{}, nil, http.StatusConflict,
			fmt.Errorf("backup %q is running: this instance takes one backup at a time", b.running)
	}
	if b.ctx == nil || b.ctx.Err() != nil {
		return instanceapi.BackupStatus{}, nil, http.StatusServiceUnavailable, errors.New("the instance manager is not running")
	}
	s := &instanceapi.BackupStatus{ID: req.ID, Phase: instanceapi.BackupRunning, Key: req.Store.Prefix + req.Key,
		Role: role, StartTime: time.Now().UTC()}
	b.list = append(b.list, s)
	b.forget()
	b.running = req.ID
	b.wg.Add(1)
	return *s, b.ctx, http.StatusAccepted, nil
}

// forget drops the oldest statuses beyond keptBackups (never the running
// one).
func (b *backupSet) forget() {
	for i := 0; len(b.list) > keptBackups && i < len(b.list); {
		if b.list[i].Phase == instanceapi.BackupRunning {
			i++
			continue
		}
		b.list = append(b.list[:i], b.list[i+1:]...)
	}
}

// update changes the status of the running backup id.
func (b *backupSet) update(id string, f func(*instanceapi.BackupStatus)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if s := b.find(id); s != nil {
		f(s)
	}
}

// end records the end of the running backup id and returns its status.
func (b *backupSet) end(id string, f func(*instanceapi.BackupStatus)) instanceapi.BackupStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	defer b.wg.Done()
	b.running = ""
	s := b.find(id)
	f(s)
	s.EndTime = time.Now().UTC()
	return *s
}

// handleStartBackup is POST /backups.
func (m *Manager) handleStartBackup(w http.ResponseWriter, r *http.Request) {
	var req instanceapi.BackupRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeJSONResponse(w, http.StatusBadRequest, instanceapi.ErrorBody{Error: "cannot parse the backup request: " + err.Error()})
		return
	}
	for _, f := range []struct{ name, value string }{
		{"id", req.ID}, {"key", req.Key}, {"store.endpoint", req.Store.Endpoint}, {"store.bucket", req.Store.Bucket},
	} {
		if f.value == "" {
			writeJSONResponse(w, http.StatusBadRequest, instanceapi.ErrorBody{Error: fmt.Sprintf("invalid backup request: %s must be set", f.name)})
			return
		}
	}
	s, ctx, code, err := m.backups.begin(req, m.Status().Role)
	if err != nil {
		writeJSONResponse(w, code, instanceapi.ErrorBody{Error: err.Error()})
		return
	}
	if code == http.StatusAccepted {
		go m.runBackup(ctx, req)
	}
	writeJSONResponse(w, code, s)
}

// handleGetBackup is GET /backups/{id}.
func (m *Manager) handleGetBackup(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s, ok := m.backups.get(id)
	if !ok {
		writeJSONResponse(w, http.StatusNotFound, instanceapi.ErrorBody{Error: fmt.Sprintf(
			"no backup %q: this manager keeps the last %d backups since it started", id, keptBackups)})
		return
	}
	writeJSONResponse(w, http.StatusOK, s)
}
