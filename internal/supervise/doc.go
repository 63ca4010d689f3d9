// Package supervise starts child processes in their own process group, tied
// to the life of the instance manager, and collects their exit. When the
// manager is PID 1 of its container (or a child subreaper) it also reaps the
// orphans the kernel reparents to it, so that no zombie accumulates.
package supervise
