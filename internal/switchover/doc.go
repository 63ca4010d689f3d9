// Package switchover moves the primary of a Redis deployment watched by
// Sentinel to a chosen replica without losing an acknowledged write: it
// fences writes on the old primary (CLIENT PAUSE WRITE), waits until the
// target has every byte of the old primary's replication stream, and then
// lets Sentinel promote it (SENTINEL FAILOVER, with the target preferred by
// replica-priority). Sentinel stays the authority on who is primary; this
// package only makes the moment Sentinel acts a safe one.
package switchover
