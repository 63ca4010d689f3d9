// Package node is the test bed's kubelet: a virtual-kubelet provider that
// runs every container of the pods bound to its node as a host process (see
// package runner), each pod in its own network namespace on the node's bridge
// (see package netns). It owns the pod lifecycle a kubelet owns: volumes, env
// resolution, init containers, restarts with back-off, probes, graceful
// deletion, container status, logs, exec and port-forward.
package node
