// Package instanceapi is the contract of the instance manager's HTTP API
// (port 8080 of every Redis pod): the request and response types, the
// credential it requires, and one typed client that the operator, peer
// instance managers, tests and benchmarks use. It imports only the standard
// library and the pure bootrole package, so that its users do not pull in
// the manager.
package instanceapi
