// Package plugin holds the verbs of the kubectl plugin (`kubectl haredis
// ...`), as functions of a controller-runtime client so that tests run them
// against a real API server; cmd/kubectl-haredis only wires flags.
package plugin
