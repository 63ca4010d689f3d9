// Package switchover moves the primary of a Redis deployment watched by
// Sentinel to a chosen replica without losing an acknowledged write: it
// fences writes on the old primary (CLIENT PAUSE WRITE), waits until the
// target has every byte of the old primary's replication stream, and then
// lets Sentinel promote it (SENTINEL FAILOVER, with the target preferred by
// replica-priority). Sentinel stays the authority on who is primary; this
// package only makes the moment Sentinel acts a safe one.
//
// The steps, and where their reasons are written down:
//
//   - switchover.go: the plan, the checks before anything is held, the
//     choice of the sentinel to ask.
//   - fence.go: the fence is a lease renewed while the outcome is open, and
//     how long it outlives a dead operator at each step.
//   - durability.go: why min-replicas-to-write is 0 on the old primary and
//     the target for the moment of the promotion, so that Sentinel-aware
//     clients never get NOREPLICAS, and how it is always set back.
//   - promote.go: SENTINEL FAILOVER, and what a lost reply means: the
//     sentinels are asked, never a second SENTINEL FAILOVER, and the fence
//     is never lifted while a promotion may still come.
//   - demote.go: the old primary is demoted only once every sentinel names
//     the new one, so that Sentinel-aware clients never get READONLY; all
//     they see is their connection to the old primary closing.
package switchover
