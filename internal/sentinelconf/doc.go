// Package sentinelconf renders sentinel.conf for a dedicated sentinel of a
// RedisFailover and picks the primary it starts monitoring: the majority
// answer of its peer sentinels when they know one, else the primary the
// operator recorded. `haredis sentinel run` uses it at every container start.
package sentinelconf
