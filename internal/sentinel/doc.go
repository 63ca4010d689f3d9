// Package sentinel is the one place haredis talks to Redis Sentinel:
//
//   - asking: SENTINEL MASTER of every sentinel at once (AskMaster), the
//     primary's address (AskPrimary), and the two majorities over the
//     answers, each defined once in internal/quorum: of all configured
//     sentinels (NamedByMajority: the operator's view of the primary, the
//     same majority that can elect one) and of those that answered
//     (MostAnswering: only a starting sentinel picking whom to monitor).
//     Asking only reads;
//   - writing: Monitor (a sentinel that lost the master), SetQuorum, Reset,
//     Failover, and Tune (haredis's timings, with why each is what it is);
//   - following: a Watcher that follows the primary through +switch-master
//     (and +failover-end, +sdown/-sdown, +odown), and confirms every
//     candidate with ROLE on the instance itself before announcing it, so
//     that a stale or partitioned sentinel cannot point clients at a
//     replica. It moves to another sentinel, with back-off, when the one it
//     uses goes away.
//
// The planned switchover (internal/switchover) keeps its own connections
// to the sentinels it drives, and the `haredis sentinel run` role
// (internal/sentinelrun) renders sentinel.conf with what it asks here.
package sentinel
