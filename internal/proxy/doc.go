// Package proxy owns haredis's RESP proxy: it accepts Redis client
// connections and forwards each over its own upstream connection to the
// current primary, which it is told about (by the sentinel watcher, or by
// Resume after a planned switchover).
//
// The forwarding path is a few event loops (loop.go), each owning the
// sockets of its connections: epoll says which are ready, and the reads and
// writes of a batch go to the kernel together, in one io_uring submission
// where available (uring.go). Each connection is a non-blocking state
// machine (conn.go, upstream.go) that forwards whole runs of commands and
// replies and counts them (resp framing), so that it knows when it is idle
// at a command boundary. Only idle connections with no state that a new
// primary cannot reproduce are moved to a new primary; everything else ends
// with an error reply or a closed connection, never a wrong answer. See
// docs/proxy.md.
package proxy
