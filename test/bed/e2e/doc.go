// Package e2e proves the test bed end to end: one bed per test run (started
// in TestMain, shared by the tests), real pods, real Services and DNS, real
// volumes, and the fault handles. The run fails if the bed leaves anything
// behind on the host.
package e2e
