package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RedisBackup is one backup of one RedisFailover: an RDB snapshot taken
// from a replica in sync (the primary only when none is) and streamed to
// object storage.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=rb,categories=haredis
// +kubebuilder:printcolumn:name="Failover",type=string,JSONPath=`.spec.failover.name`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Source",type=string,JSONPath=`.status.source`
// +kubebuilder:printcolumn:name="Keys",type=integer,JSONPath=`.status.keys`
// +kubebuilder:printcolumn:name="Size",type=integer,JSONPath=`.status.sizeBytes`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type RedisBackup struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec: a RedisBackup cannot be changed once created; create another RedisBackup"
	Spec   RedisBackupSpec   `json:"spec"`
	Status RedisBackupStatus `json:"status,omitempty"`
}

// RedisBackupList is a list of RedisBackup.
//
// +kubebuilder:object:root=true
type RedisBackupList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []RedisBackup `json:"items"`
}

// RedisBackupSpec says what to back up and where to.
type RedisBackupSpec struct {
	// Failover is the RedisFailover to back up, in the same namespace.
	Failover LocalObjectReference `json:"failover"`
	// ObjectStore receives the backup; the RedisFailover's
	// spec.backup.objectStore when unset.
	// +optional
	ObjectStore *ObjectStore `json:"objectStore,omitempty"`
}

// BackupPhase is where a backup stands.
// +kubebuilder:validation:Enum=Pending;Running;Completed;Failed
type BackupPhase string

const (
	// BackupPending: the backup waits for its RedisFailover, its store or
	// an instance to take it from.
	BackupPending BackupPhase = "Pending"
	// BackupRunning: an instance streams its snapshot to the store.
	BackupRunning BackupPhase = "Running"
	// BackupCompleted: the object is in the store, its checksum recorded.
	BackupCompleted BackupPhase = "Completed"
	// BackupFailed: the backup ended without a usable object; the
	// condition Completed says why.
	BackupFailed BackupPhase = "Failed"
)

// RedisBackupStatus is what the backup holds and how it went.
type RedisBackupStatus struct {
	// +optional
	Phase BackupPhase `json:"phase,omitempty"`
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Source is the instance the snapshot was taken from; SourceRole its
	// role then (replica, or primary when no replica was in sync).
	// +optional
	Source string `json:"source,omitempty"`
	// +optional
	SourceRole Role `json:"sourceRole,omitempty"`
	// ReplicationID and ReplicationOffset are the replication position the
	// snapshot holds: every write acknowledged up to that offset, none
	// after it.
	// +optional
	ReplicationID string `json:"replicationID,omitempty"`
	// +optional
	ReplicationOffset int64 `json:"replicationOffset,omitempty"`
	// Keys in the data set when the snapshot was taken.
	// +optional
	Keys int64 `json:"keys,omitempty"`
	// SizeBytes and SHA256 (hex) of the stored RDB file.
	// +optional
	SizeBytes int64 `json:"sizeBytes,omitempty"`
	// +optional
	SHA256 string `json:"sha256,omitempty"`
	// Server that wrote the snapshot, such as "valkey 8.0.1", and the RDB
	// format version; a server restores it only when it reads that version.
	// +optional
	Server string `json:"server,omitempty"`
	// +optional
	RDBVersion int `json:"rdbVersion,omitempty"`
	// Location of the object, enough to restore it from another namespace
	// or cluster.
	// +optional
	Location *BackupLocation `json:"location,omitempty"`
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`
	// +optional
	EndTime *metav1.Time `json:"endTime,omitempty"`
}

// BackupLocation is where a backup's object lies and how to read it.
type BackupLocation struct {
	Endpoint string `json:"endpoint"`
	Bucket   string `json:"bucket"`
	// Key of the object in the bucket (with every prefix).
	Key string `json:"key"`
	// +optional
	Region string `json:"region,omitempty"`
	// CredentialsSecret the backup was written with, in the RedisBackup's
	// namespace; none means the web identity of the environment.
	// +optional
	CredentialsSecret *LocalObjectReference `json:"credentialsSecret,omitempty"`
}

// URL is s3://BUCKET/KEY.
func (l *BackupLocation) URL() string { return "s3://" + l.Bucket + "/" + l.Key }
