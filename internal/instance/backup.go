package instance

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"time"

	"github.com/haredis/haredis/internal/instanceapi"
	"github.com/haredis/haredis/internal/objectstore"
	"github.com/haredis/haredis/internal/rdbstream"
	"github.com/haredis/haredis/internal/redisinfo"
)

// snapshotDialTimeout bounds the connection to the local redis-server.
const snapshotDialTimeout = 5 * time.Second

// runBackup takes the backup req, which begin recorded, and records its
// end. Logs name the store by its String, never with the secret key.
func (m *Manager) runBackup(ctx context.Context, req instanceapi.BackupRequest) {
	start := time.Now()
	log := m.log.With("backup", req.ID, "key", req.Store.Prefix+req.Key)
	log.Info("backup started", "store", req.Store.String())
	res, err := m.takeBackup(ctx, req, log)
	// The upload's part buffer is garbage now: give its pages back, so
	// that the manager's memory (the pod's, as PID 1) is the same after
	// every backup, not the peak of the last one.
	debug.FreeOSMemory()
	s := m.backups.end(req.ID, func(s *instanceapi.BackupStatus) {
		if err != nil {
			s.Phase, s.Error = instanceapi.BackupFailed, err.Error()
			return
		}
		s.Phase, s.Size, s.SHA256 = instanceapi.BackupCompleted, res.Size, res.SHA256
	})
	d := time.Since(start).Round(time.Millisecond).String()
	if err != nil {
		log.Error("backup failed", "err", err, "duration", d)
		return
	}
	log.Info("backup completed", "size", s.Size, "sha256", s.SHA256, "keys", s.Keys, "replID", s.ReplID, "offset", s.Offset,
		"rdbVersion", s.RDBVersion, "duration", d)
}

// takeBackup streams an RDB snapshot of the local redis-server to the
// store, part by part: neither memory nor the disk ever holds the whole
// file. The status learns the snapshot's position, key count and server
// as soon as they are known.
func (m *Manager) takeBackup(ctx context.Context, req instanceapi.BackupRequest, log *slog.Logger) (objectstore.PutResult, error) {
	// The parts of the upload, and so the manager's memory, follow the
	// size of the data set: the snapshot is at most about its memory.
	partSize := int64(objectstore.DefaultPartSize)
	if mem := m.usedMemory(ctx); mem > 0 {
		partSize = objectstore.PartSizeFor(mem)
	}
	store, err := backupStore(req.Store, partSize)
	if err != nil {
		return objectstore.PutResult{}, fmt.Errorf("cannot use the object store (%s): %w", req.Store, err)
	}
	user, pw, err := m.adminAuth()
	if err != nil {
		return objectstore.PutResult{}, fmt.Errorf("cannot take a snapshot of redis-server: %w", err)
	}
	network, addr := m.localAddr()
	stream, err := rdbstream.OpenNetwork(ctx, network, addr, user, pw, snapshotDialTimeout)
	if err != nil {
		return objectstore.PutResult{}, fmt.Errorf("cannot take a snapshot of redis-server: %w", err)
	}
	defer stream.Close()
	// The server forked for the snapshot as it answered: its key count
	// now is the snapshot's, but for writes of the last instant.
	keys, err := m.keyCount(ctx)
	if err != nil {
		log.Warn("cannot count the keys of the snapshot", "err", err)
	}
	st := m.Status()
	m.backups.update(req.ID, func(s *instanceapi.BackupStatus) {
		s.ReplID, s.Offset, s.Keys = stream.ReplID, stream.Offset, keys
		s.Role, s.Engine, s.EngineVersion = st.Role, st.Engine, st.EngineVersion
	})
	res, err := store.Put(ctx, req.Key, stream, -1)
	m.backups.update(req.ID, func(s *instanceapi.BackupStatus) { s.RDBVersion = stream.Header().RDBVersion })
	if err != nil {
		return objectstore.PutResult{}, err
	}
	return res, nil
}

// usedMemory is the server's used_memory (INFO memory), 0 when unknown.
func (m *Manager) usedMemory(ctx context.Context) int64 {
	c, err := m.redisClient.client()
	if err != nil {
		return 0
	}
	text, err := c.Info(ctx, "memory").Result()
	if err != nil {
		return 0
	}
	return redisinfo.ParseInfo(text).Int("used_memory", 0)
}

// keyCount sums the keys of every database (INFO keyspace).
func (m *Manager) keyCount(ctx context.Context) (int64, error) {
	c, err := m.redisClient.client()
	if err != nil {
		return 0, err
	}
	text, err := c.Info(ctx, "keyspace").Result()
	if err != nil {
		return 0, fmt.Errorf("cannot read INFO keyspace: %w", err)
	}
	return redisinfo.ParseInfo(text).Keys(), nil
}

// backupStore is the client of the request's store: its static keys, or
// without them the web identity of the pod's environment.
func backupStore(s instanceapi.Store, partSize int64) (*objectstore.Client, error) {
	creds := objectstore.Credentials{AccessKeyID: s.AccessKeyID, SecretAccessKey: s.SecretAccessKey}
	if s.AccessKeyID == "" && s.SecretAccessKey == "" {
		var err error
		if creds, err = objectstore.CredentialsFromSecret(nil, os.Getenv); err != nil {
			return nil, err
		}
	}
	return objectstore.New(objectstore.Config{
		Endpoint:    s.Endpoint,
		Bucket:      s.Bucket,
		Prefix:      s.Prefix,
		Region:      s.Region,
		Credentials: creds,
		Encryption:  objectstore.Encryption{Mode: s.EncryptionMode, KMSKeyID: s.KMSKeyID},
		PartSize:    partSize,
	})
}
