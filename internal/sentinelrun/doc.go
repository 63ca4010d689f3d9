// Package sentinelrun is the sentinel role, `haredis sentinel run`, the
// first process of every dedicated sentinel container: it picks the
// primary to monitor (the majority answer of its peer sentinels when they
// know one, else the primary the operator recorded), renders sentinel.conf
// over the file the previous start of the same pod left (keeping its
// epochs and votes), and execs redis-sentinel.
//
// With TLS it runs redis-sentinel as its child instead, TLS only on the
// sentinel port and towards the instances and the peers, and restarts it
// on the file Sentinel rewrote when the mounted certificate is renewed.
package sentinelrun
