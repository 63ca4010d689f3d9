// Package sentinelrun is the sentinel role, `haredis sentinel run`, the
// first process of every dedicated sentinel container: it picks the
// primary to monitor (the majority answer of its peer sentinels when they
// know one, else the primary the operator recorded), renders sentinel.conf
// over the file the previous start of the same pod left (keeping its
// epochs and votes), and execs redis-sentinel.
package sentinelrun
