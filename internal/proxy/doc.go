// Package proxy owns haredis's RESP proxy: it accepts Redis client
// connections and forwards each over its own upstream connection to the
// current primary, which it is told about (by the sentinel watcher, or by
// Resume after a planned switchover).
//
// The forwarding path is two goroutines per client, one per direction, each
// reading what is available into a large buffer and writing whole commands or
// replies in one write; it counts commands and replies (resp framing) so that
// it knows when a connection is idle at a command boundary. Only idle
// connections with no state that a new primary cannot reproduce are moved to
// a new primary; everything else ends with an error reply or a closed
// connection, never a wrong answer. See docs/proxy.md.
package proxy
