// Package redistest starts real redis-server and redis-sentinel processes on
// free loopback ports for tests, each in a t.TempDir(), killed when the test
// ends or the test binary dies (Pdeathsig).
package redistest
