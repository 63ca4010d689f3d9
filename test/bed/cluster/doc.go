// Package cluster assembles the test bed: a real control plane (package
// test/controlplane), a router network namespace with kube-proxy and CoreDNS,
// virtual-kubelet nodes whose pods are host processes (package node), a
// hostpath provisioner with online expansion (package storage), and the
// bookkeeping that lets a later run remove what a crashed run left behind.
package cluster
