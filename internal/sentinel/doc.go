// Package sentinel follows Redis Sentinel to know the current primary of one
// monitored master: it asks SENTINEL GET-MASTER-ADDR-BY-NAME, listens to
// +switch-master (and +failover-end, +sdown/-sdown, +odown), and confirms
// every candidate with ROLE on the instance itself before announcing it, so
// that a stale or partitioned sentinel cannot point clients at a replica. It
// moves to another sentinel, with back-off, when the one it uses goes away.
package sentinel
