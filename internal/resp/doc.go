// Package resp owns the RESP2/RESP3 wire framing haredis needs to proxy Redis
// connections: finding where one client command or one server reply ends in a
// buffer, and reading a command's name and first arguments, without allocating.
//
// It deliberately does not decode values: a proxy forwards bytes and only needs
// boundaries (to count replies and hold traffic at command boundaries) and a
// few command names (to track per-connection state).
package resp
