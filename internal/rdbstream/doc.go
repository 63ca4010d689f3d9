// Package rdbstream takes an RDB snapshot of a running redis-server (or
// valkey-server) over the replication protocol, the way a replica's first
// synchronisation does, and hands it out as a stream: nothing is written to
// disk and only a few KiB are held in memory, whatever the size of the data
// set.
//
// Open connects, authenticates and asks for an RDB alone (REPLCONF rdb-only,
// Redis 7.0 and later, Valkey): the server forks, sends the snapshot and no
// replication stream after it. The Stream yields exactly the bytes of the
// RDB file, whether the server sends them with their length first
// (disk-based synchronisation) or ends them with a mark (diskless). It reads
// the file's header on the way (format version, server version) and checks
// its trailing CRC64, so that a snapshot cut short or damaged in transit is
// an error of Read, never a clean end.
package rdbstream
