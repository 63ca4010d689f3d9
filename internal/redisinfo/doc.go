// Package redisinfo parses what Redis says about itself: the text of INFO and
// the reply of ROLE. It is pure so that it can be tested and fuzzed without a
// server.
package redisinfo
