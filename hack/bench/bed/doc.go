// Package bench measures the test bed: cold and warm start of a whole bed,
// and pod start latency (create to Ready) over a burst of pods, against a
// bare redis-server started on the host in the same run.
package bench
