// Package instance is the instance manager, PID 1 of every Redis container:
// it decides the boot role safely (package bootrole), renders redis.conf
// (package redisconf), supervises redis-server, applies parameter groups live
// and serves health, readiness, status, metrics and config over HTTP. It does
// not talk to Kubernetes: the operator reads and drives it over HTTP.
package instance
