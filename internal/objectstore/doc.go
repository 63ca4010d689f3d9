// Package objectstore is the one client haredis uses for S3-compatible
// object storage (backups): built from a RedisFailover's ObjectStore
// settings and its credentials Secret (or, without keys in the Secret, the
// web identity of the pod, as IRSA provides), it keeps every key under a
// prefix of its own per RedisFailover and offers Put, Get, List, Stat,
// Delete and Check.
//
// Put streams: it holds one part (PartSize) in memory whatever the size of
// the object, and returns the SHA-256 of what it sent, computed on the way.
// Every error names the operation, the object and the store, and the
// store's usual refusals (missing bucket, wrong keys, denied access,
// unreachable endpoint) read as sentences fit for a status condition; they
// match ErrNoSuchBucket, ErrCredentials, ErrAccessDenied, ErrUnreachable
// and ErrNotFound with errors.Is. Secrets never appear in errors, logs or
// the printed Config.
package objectstore
