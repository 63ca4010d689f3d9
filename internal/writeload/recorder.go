package writeload

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Failure is one write that got an error.
type Failure struct {
	At  time.Time
	Err string
	// Reply is true when Redis answered with an error reply (NOREPLICAS,
	// READONLY, LOADING, ...): the client reached a server that refused the
	// write. It is false for a connection that broke, closed or timed out.
	Reply bool
}

// Recorder records the outcome of numbered writes of PREFIX:N = N, made by
// a Load or by any other client (another library, another process), so
// that they can be checked afterwards: every acknowledged one must still be
// there. It is safe for concurrent use.
type Recorder struct {
	prefix string

	mu       sync.Mutex
	acked    []int64
	ackedAt  []time.Time
	failures []Failure
	attempts int64
}

// NewRecorder records writes of keys PREFIX:N.
func NewRecorder(prefix string) *Recorder { return &Recorder{prefix: prefix} }

// Ack records that write number i was acknowledged now.
func (r *Recorder) Ack(i int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attempts++
	r.acked = append(r.acked, i)
	r.ackedAt = append(r.ackedAt, time.Now())
}

// Fail records that a write failed now with message err; reply tells an
// error reply of Redis from a connection error.
func (r *Recorder) Fail(err string, reply bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attempts++
	r.failures = append(r.failures, Failure{At: time.Now(), Err: err, Reply: reply})
}

func (r *Recorder) attempt() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attempts++
}

// Acked returns how many writes were acknowledged so far.
func (r *Recorder) Acked() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.acked)
}

// WaitAcked waits until n more writes than now were acknowledged.
func (r *Recorder) WaitAcked(ctx context.Context, n int) error { return r.waitAcked(ctx, n, nil) }

// waitAcked gives up early when done (the writer stopped) is closed.
func (r *Recorder) waitAcked(ctx context.Context, n int, done <-chan struct{}) error {
	want := r.Acked() + n
	for r.Acked() < want {
		select {
		case <-ctx.Done():
			return fmt.Errorf("cannot see %d more acknowledged writes (at %d, last failure %q): %w", n, r.Acked(), r.lastFailure(), ctx.Err())
		case <-done:
			return fmt.Errorf("the load stopped at %d acknowledged writes", r.Acked())
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}

// AckedSince returns how many writes were acknowledged from t on.
func (r *Recorder) AckedSince(t time.Time) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for i := len(r.ackedAt) - 1; i >= 0 && !r.ackedAt[i].Before(t); i-- {
		n++
	}
	return n
}

// FailuresSince returns the failed writes from t on.
func (r *Recorder) FailuresSince(t time.Time) []Failure {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Failure
	for _, f := range r.failures {
		if !f.At.Before(t) {
			out = append(out, f)
		}
	}
	return out
}

// LongestGapSince returns the longest time between two acknowledged writes
// from t on: the longest write pause a client saw since then.
func (r *Recorder) LongestGapSince(t time.Time) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	var g time.Duration
	for i := len(r.ackedAt) - 1; i > 0 && !r.ackedAt[i-1].Before(t); i-- {
		g = max(g, r.ackedAt[i].Sub(r.ackedAt[i-1]))
	}
	return g
}

func (r *Recorder) lastFailure() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.failures) == 0 {
		return ""
	}
	return r.failures[len(r.failures)-1].Err
}

// Report returns what was recorded so far.
func (r *Recorder) Report() Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	rep := Report{Attempts: r.attempts, Acked: append([]int64(nil), r.acked...), Failures: append([]Failure(nil), r.failures...), prefix: r.prefix}
	for i := 1; i < len(r.ackedAt); i++ {
		if g := r.ackedAt[i].Sub(r.ackedAt[i-1]); g > rep.LongestGap {
			rep.LongestGap, rep.LongestGapAt = g, r.ackedAt[i-1]
		}
	}
	return rep
}
