package instanceapi

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// Phases of a backup the manager takes (BackupStatus.Phase).
const (
	BackupRunning   = "running"
	BackupCompleted = "completed"
	BackupFailed    = "failed"
)

// Store is the S3-compatible bucket a backup goes to, as the operator
// resolved it (credentials read from their Secret). Its String hides the
// secret key; so must every log of it.
type Store struct {
	Endpoint string `json:"endpoint"`
	Bucket   string `json:"bucket"`
	// Prefix of the RedisFailover's objects in the bucket, ending in "/".
	Prefix string `json:"prefix"`
	Region string `json:"region,omitempty"`
	// AccessKeyID and SecretAccessKey are static keys; when both are
	// empty the manager uses the web identity of its pod's environment
	// (AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN).
	AccessKeyID     string `json:"accessKeyID,omitempty"`
	SecretAccessKey string `json:"secretAccessKey,omitempty"`
	// EncryptionMode is "", "AES256" or "aws:kms"; KMSKeyID the key of
	// aws:kms.
	EncryptionMode string `json:"encryptionMode,omitempty"`
	KMSKeyID       string `json:"kmsKeyID,omitempty"`
}

// String names the bucket and hides the secret.
func (s Store) String() string {
	return fmt.Sprintf("s3 %s bucket %s prefix %s", s.Endpoint, s.Bucket, s.Prefix)
}

// GoString is String, so that %#v hides the secret too.
func (s Store) GoString() string { return s.String() }

// BackupRequest is the body of POST /backups: stream an RDB of this
// instance's data set to Key (under Store.Prefix).
type BackupRequest struct {
	// ID names the backup (the RedisBackup's UID); a second request with
	// the same ID answers the first one's status.
	ID    string `json:"id"`
	Store Store  `json:"store"`
	Key   string `json:"key"`
}

// BackupStatus is the answer of POST /backups and GET /backups/{id}.
type BackupStatus struct {
	ID    string `json:"id"`
	Phase string `json:"phase"`
	// Key is the object's key in the bucket (with the prefix).
	Key string `json:"key"`
	// Role of the instance when the snapshot was taken.
	Role string `json:"role"`
	// ReplID and Offset are the replication position the RDB holds: every
	// write up to Offset of ReplID's history, none after it.
	ReplID string `json:"replID,omitempty"`
	Offset int64  `json:"offset,omitempty"`
	// Keys in the data set when the snapshot was taken.
	Keys int64 `json:"keys,omitempty"`
	// Size in bytes and SHA256 (hex) of the object.
	Size   int64  `json:"size,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	// Engine and EngineVersion of the server that wrote the RDB; RDBVersion
	// its format version.
	Engine        string    `json:"engine,omitempty"`
	EngineVersion string    `json:"engineVersion,omitempty"`
	RDBVersion    int       `json:"rdbVersion,omitempty"`
	StartTime     time.Time `json:"startTime"`
	EndTime       time.Time `json:"endTime,omitzero"`
	// Error says why a failed backup failed.
	Error string `json:"error,omitempty"`
}

// StartBackup is POST /backups. A manager that takes another backup
// answers 409.
func (c *Client) StartBackup(ctx context.Context, req BackupRequest) (*BackupStatus, error) {
	var s BackupStatus
	if err := c.do(ctx, http.MethodPost, "/backups", req, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Backup is GET /backups/{id}; a manager that does not know the backup
// (it restarted since) answers 404.
func (c *Client) Backup(ctx context.Context, id string) (*BackupStatus, error) {
	var s BackupStatus
	if err := c.do(ctx, http.MethodGet, "/backups/"+url.PathEscape(id), nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}
