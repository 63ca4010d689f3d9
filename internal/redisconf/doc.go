// Package redisconf renders redis.conf for one instance from its parameter
// group and the settings haredis owns, and says which parameters haredis
// owns. It is pure: no files, no processes.
package redisconf
