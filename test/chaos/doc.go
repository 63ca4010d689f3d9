// Package chaos is the fault suite: seeded random sequences of planned
// operations and unplanned faults against one RedisFailover on the test bed,
// under two writers that record every acknowledged write, with invariants
// checked after every step (no acknowledged write lost by a planned step,
// no older data set made primary, Ready again within a bound, never Ready
// while writes fail, sentinels that name only this RedisFailover's
// instances). The engine (Run, NewPlan) is shared by the test
// (`go test ./test/chaos/`, `make chaos`) and the benchmark
// (`make bench-chaos`). See docs/chaos.md.
package chaos
