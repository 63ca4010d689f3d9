// Package rdbimport replays the keys of an RDB file into a running Redis or
// Valkey online: the file is loaded by a private server of the target's own
// engine and version (so whatever that server reads, it imports, and
// nothing needs to parse the RDB format), and every key is copied with DUMP
// and RESTORE, its TTL kept, through the target's primary so that its
// replicas follow. Existing keys are kept unless asked otherwise. The
// private server listens on a Unix socket only and is killed with its
// parent.
package rdbimport
