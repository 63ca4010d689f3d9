// Package e2e tests haredis end to end on the test bed (test/bed): the
// operator runs as a Deployment from config/, Redis and sentinels run in
// pods, clients connect through the bed's network. It needs root and skips
// under -short.
package e2e
