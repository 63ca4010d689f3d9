package instance

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/haredis/haredis/internal/instanceapi"
	"github.com/haredis/haredis/internal/objectstore"
	"github.com/haredis/haredis/internal/redistest"
	"github.com/haredis/haredis/internal/s3test"
)

// waitBackup polls GET /backups/{id} until the backup is no longer running.
func waitBackup(t *testing.T, api *instanceapi.Client, id string) instanceapi.BackupStatus {
	t.Helper()
	var s instanceapi.BackupStatus
	redistest.WaitFor(t, time.Minute, "the end of backup "+id, func(ctx context.Context) error {
		got, err := api.Backup(ctx, id)
		if err != nil {
			return err
		}
		if got.Phase == instanceapi.BackupRunning {
			return fmt.Errorf("backup %s is running", id)
		}
		s = *got
		return nil
	})
	return s
}

// dbSizes is DBSIZE of databases 0 and 2 of the server at addr.
func dbSizes(t *testing.T, addr string) [2]int64 {
	t.Helper()
	var out [2]int64
	for i, db := range []int{0, 2} {
		c := redis.NewClient(&redis.Options{Addr: addr, Password: testPassword, DB: db, Protocol: 2, DisableIdentity: true})
		n, err := c.DBSize(context.Background()).Result()
		c.Close()
		if err != nil {
			t.Fatalf("DBSIZE of db %d at %s: %v", db, addr, err)
		}
		out[i] = n
	}
	return out
}

func TestBackupToObjectStore(t *testing.T) {
	store := s3test.Run(t, s3test.Options{})
	c := newTestCluster(t, []string{"app-1"}, nil, nil)
	tm := c.start("app-1")
	primary := waitRole(t, tm.m, instanceapi.RolePrimary, 20*time.Second)
	ctx := context.Background()

	// 300 keys in db 0, 20 in db 2.
	rc := c.client("app-1")
	p := rc.Pipeline()
	for i := range 296 {
		p.Set(ctx, fmt.Sprintf("key:%d", i), strings.Repeat("v", i), 0)
	}
	p.HSet(ctx, "hash", "f", "v")
	p.RPush(ctx, "list", "a", "b")
	p.SAdd(ctx, "set", "m")
	p.ZAdd(ctx, "zset", redis.Z{Score: 1, Member: "m"})
	if _, err := p.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	db2 := redis.NewClient(&redis.Options{Addr: c.cfg.Hosts["app-1"], Password: testPassword, DB: 2, Protocol: 2, DisableIdentity: true})
	defer db2.Close()
	for i := range 20 {
		if err := db2.Set(ctx, fmt.Sprintf("other:%d", i), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}

	api := &instanceapi.Client{BaseURL: "http://" + tm.m.HTTPAddr(), Token: testToken}
	goodStore := instanceapi.Store{Endpoint: store.Endpoint, Bucket: store.Bucket, Prefix: "backups/app/", Region: s3test.Region,
		AccessKeyID: store.AccessKeyID, SecretAccessKey: store.SecretAccessKey}

	t.Run("completed", func(t *testing.T) {
		req := instanceapi.BackupRequest{ID: "uid-1", Store: goodStore, Key: "2026/uid-1.rdb"}
		started, err := api.StartBackup(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if started.ID != req.ID || started.Key != "backups/app/2026/uid-1.rdb" || started.StartTime.IsZero() {
			t.Errorf("POST /backups answered %+v", started)
		}
		// The same ID answers the same backup.
		again, err := api.StartBackup(ctx, req)
		if err != nil || !again.StartTime.Equal(started.StartTime) {
			t.Errorf("second POST of the same ID: %+v, %v; want the first backup's status", again, err)
		}
		s := waitBackup(t, api, req.ID)
		if s.Phase != instanceapi.BackupCompleted {
			t.Fatalf("backup ended %s: %s", s.Phase, s.Error)
		}
		// A primary without replicas starts a new history when its first
		// replica, here the snapshot, connects: read its position now.
		repl, err := rc.Info(ctx, "replication").Result()
		if err != nil {
			t.Fatal(err)
		}
		if s.Keys != 320 || s.Role != instanceapi.RolePrimary || !strings.Contains(repl, "master_replid:"+s.ReplID+"\r\n") || s.Offset < 0 {
			t.Errorf("status %+v: want 320 keys, role primary and the primary's replication ID:\n%s", s, repl)
		}
		if s.Engine != primary.Engine || s.EngineVersion != primary.EngineVersion || s.RDBVersion < 9 {
			t.Errorf("status %+v: want the engine %s %s and an RDB format version", s, primary.Engine, primary.EngineVersion)
		}
		if s.Size <= 0 || len(s.SHA256) != 64 || !s.EndTime.After(s.StartTime) {
			t.Errorf("status %+v: want a size, a SHA-256 and an end time", s)
		}

		// The object is what the status says, and loads into a new server.
		oc, err := objectstore.New(objectstore.Config{Endpoint: store.Endpoint, Bucket: store.Bucket, Region: s3test.Region,
			Credentials: objectstore.Credentials{AccessKeyID: store.AccessKeyID, SecretAccessKey: store.SecretAccessKey}})
		if err != nil {
			t.Fatal(err)
		}
		r, obj, err := oc.Get(ctx, s.Key)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		f, err := os.Create(filepath.Join(dir, "backup.rdb"))
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		n, err := io.Copy(io.MultiWriter(f, h), r)
		r.Close()
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if sum := hex.EncodeToString(h.Sum(nil)); n != s.Size || obj.Size != s.Size || sum != s.SHA256 {
			t.Errorf("object of %d bytes (%d stored), SHA-256 %s; the status says %d bytes, %s", n, obj.Size, sum, s.Size, s.SHA256)
		}
		loaded, err := redistest.StartServer(redistest.ServerConfig{Password: testPassword, Extra: []string{"dir " + dir, "dbfilename backup.rdb"}})
		if err != nil {
			t.Fatal(err)
		}
		defer loaded.Close()
		if got, want := dbSizes(t, loaded.Addr()), dbSizes(t, c.cfg.Hosts["app-1"]); got != want || want != [2]int64{300, 20} {
			t.Errorf("the server that loaded the backup holds %v keys in dbs 0 and 2, the primary %v; want [300 20]", got, want)
		}
		lc := loaded.Client()
		defer lc.Close()
		if v, err := lc.Get(ctx, "key:295").Result(); err != nil || v != strings.Repeat("v", 295) {
			t.Errorf("key:295 of the loaded backup: %d bytes, %v", len(v), err)
		}
	})

	t.Run("missing bucket", func(t *testing.T) {
		bad := goodStore
		bad.Bucket = "no-such-bucket"
		if _, err := api.StartBackup(ctx, instanceapi.BackupRequest{ID: "uid-2", Store: bad, Key: "uid-2.rdb"}); err != nil {
			t.Fatal(err)
		}
		s := waitBackup(t, api, "uid-2")
		if s.Phase != instanceapi.BackupFailed || !strings.Contains(s.Error, `bucket "no-such-bucket" does not exist`) {
			t.Errorf("backup to a missing bucket: %s %q; want failed, naming the bucket", s.Phase, s.Error)
		}
	})

	t.Run("wrong secret key", func(t *testing.T) {
		bad := goodStore
		bad.SecretAccessKey = "not-the-secret-key"
		if _, err := api.StartBackup(ctx, instanceapi.BackupRequest{ID: "uid-3", Store: bad, Key: "uid-3.rdb"}); err != nil {
			t.Fatal(err)
		}
		s := waitBackup(t, api, "uid-3")
		if s.Phase != instanceapi.BackupFailed || !strings.Contains(s.Error, "secret access key does not match") {
			t.Errorf("backup with a wrong secret key: %s %q; want failed, saying the key is wrong", s.Phase, s.Error)
		}
		if strings.Contains(s.Error, bad.SecretAccessKey) {
			t.Errorf("the error shows the secret key: %q", s.Error)
		}
	})

	t.Run("one at a time", func(t *testing.T) {
		// A store that holds every request until released, so that the
		// backup is surely running, then refuses it.
		release := make(chan struct{})
		slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied.</Message></Error>`)
		}))
		defer slow.Close()
		released := false
		free := func() {
			if !released {
				close(release)
				released = true
			}
		}
		defer free()
		held := goodStore
		held.Endpoint = slow.URL
		if _, err := api.StartBackup(ctx, instanceapi.BackupRequest{ID: "uid-4", Store: held, Key: "uid-4.rdb"}); err != nil {
			t.Fatal(err)
		}
		_, err := api.StartBackup(ctx, instanceapi.BackupRequest{ID: "uid-5", Store: goodStore, Key: "uid-5.rdb"})
		if instanceapi.StatusCode(err) != http.StatusConflict || !strings.Contains(err.Error(), `"uid-4" is running`) {
			t.Errorf("a second backup while one runs: %v; want 409 naming the running one", err)
		}
		redistest.WaitFor(t, 30*time.Second, "the snapshot's position in the running backup", func(ctx context.Context) error {
			s, err := api.Backup(ctx, "uid-4")
			if err != nil {
				return err
			}
			if s.Phase != instanceapi.BackupRunning || s.ReplID == "" {
				return fmt.Errorf("backup %s, replication ID %q", s.Phase, s.ReplID)
			}
			return nil
		})
		free()
		s := waitBackup(t, api, "uid-4")
		if s.Phase != instanceapi.BackupFailed || !strings.Contains(s.Error, "access denied") {
			t.Errorf("backup refused by the store: %s %q; want failed with access denied", s.Phase, s.Error)
		}
		// Once it has ended, another may start.
		if _, err := api.StartBackup(ctx, instanceapi.BackupRequest{ID: "uid-5", Store: goodStore, Key: "uid-5.rdb"}); err != nil {
			t.Fatalf("a backup after the end of the other: %v", err)
		}
		if s := waitBackup(t, api, "uid-5"); s.Phase != instanceapi.BackupCompleted {
			t.Errorf("backup uid-5 ended %s: %s", s.Phase, s.Error)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		anon := &instanceapi.Client{BaseURL: api.BaseURL}
		if _, err := anon.StartBackup(ctx, instanceapi.BackupRequest{ID: "uid-6", Store: goodStore, Key: "k"}); instanceapi.StatusCode(err) != http.StatusUnauthorized {
			t.Errorf("POST /backups without the token: %v, want 401", err)
		}
		if _, err := anon.Backup(ctx, "uid-1"); instanceapi.StatusCode(err) != http.StatusUnauthorized {
			t.Errorf("GET /backups/uid-1 without the token: %v, want 401", err)
		}
		if _, err := api.Backup(ctx, "uid-6"); instanceapi.StatusCode(err) != http.StatusNotFound {
			t.Errorf("GET of a backup never started: %v, want 404", err)
		}
		for field, change := range map[string]func(*instanceapi.BackupRequest){
			"id":             func(r *instanceapi.BackupRequest) { r.ID = "" },
			"key":            func(r *instanceapi.BackupRequest) { r.Key = "" },
			"store.endpoint": func(r *instanceapi.BackupRequest) { r.Store.Endpoint = "" },
			"store.bucket":   func(r *instanceapi.BackupRequest) { r.Store.Bucket = "" },
		} {
			req := instanceapi.BackupRequest{ID: "uid-7", Store: goodStore, Key: "k"}
			change(&req)
			_, err := api.StartBackup(ctx, req)
			if instanceapi.StatusCode(err) != http.StatusBadRequest || !strings.Contains(err.Error(), field+" must be set") {
				t.Errorf("POST /backups without %s: %v, want 400 naming it", field, err)
			}
		}
		if _, err := api.Backup(ctx, "uid-7"); instanceapi.StatusCode(err) != http.StatusNotFound {
			t.Errorf("an invalid request was recorded: GET answers %v", err)
		}
	})
}

func TestBackupSetKeepsTheLastOnes(t *testing.T) {
	var b backupSet
	b.open(context.Background())
	for i := range keptBackups + 5 {
		id := fmt.Sprint(i)
		if _, _, code, err := b.begin(instanceapi.BackupRequest{ID: id}, instanceapi.RolePrimary); code != http.StatusAccepted {
			t.Fatalf("begin %s: %d %v", id, code, err)
		}
		b.end(id, func(s *instanceapi.BackupStatus) { s.Phase = instanceapi.BackupCompleted })
	}
	if _, _, code, _ := b.begin(instanceapi.BackupRequest{ID: "running"}, instanceapi.RolePrimary); code != http.StatusAccepted {
		t.Fatalf("begin: %d", code)
	}
	if len(b.list) != keptBackups {
		t.Errorf("%d statuses kept, want %d", len(b.list), keptBackups)
	}
	for _, id := range []string{"0", "5"} {
		if _, ok := b.get(id); ok {
			t.Errorf("backup %s is still known, want it forgotten", id)
		}
	}
	for _, id := range []string{"6", fmt.Sprint(keptBackups + 4), "running"} {
		if _, ok := b.get(id); !ok {
			t.Errorf("backup %s is forgotten, want it known", id)
		}
	}
	if _, _, code, _ := b.begin(instanceapi.BackupRequest{ID: "other"}, instanceapi.RolePrimary); code != http.StatusConflict {
		t.Errorf("begin while one runs: %d, want 409", code)
	}
	b.end("running", func(*instanceapi.BackupStatus) {})
	b.wait()
}
