// Package controlplane starts a real Kubernetes control plane on loopback for
// tests: etcd and kube-apiserver, and on request kube-controller-manager and
// kube-scheduler, built from their Go modules by `make setup`. It creates the
// certificates and service-account keys, writes an admin kubeconfig, installs
// CRDs, and stops every process it started, also when the test binary dies
// (each child gets SIGKILL from the kernel when its parent goes away).
package controlplane
