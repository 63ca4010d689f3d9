// Package redistest starts and stops real redis-server and redis-sentinel
// processes (or another engine's, such as valkey-server and
// valkey-sentinel, when a config names their binaries) for tests and
// benchmarks: each in its own temporary directory, on a free loopback port,
// killed with the parent if the test binary dies (supervise.StartTied), and
// always cleaned up. It also offers wait-for helpers with deadlines, because
// end-to-end tests wait on conditions, never on sleeps.
package redistest
