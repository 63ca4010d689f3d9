// Package fault gives end-to-end tests the failures they need to provoke on
// a running bed: cut a pod off the network and restore it, SIGKILL a
// container, power a node off and on, kill the operator (in a pod or as a
// host process).
package fault
