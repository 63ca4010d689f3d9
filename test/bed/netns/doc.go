// Package netns owns the test bed's network: one router namespace per bed
// that holds a bridge per node, kube-proxy's iptables rules and the cluster
// DNS address, and one namespace per pod wired to its node's bridge by a veth
// pair. Nothing is added to the host's own network namespace, so parallel beds
// never clash and deleting the namespaces removes every link and rule.
package netns
