// Package writeload runs a steady, bounded write load against Redis and
// records every acknowledged write, so that tests and benchmarks can check
// afterwards that none was lost and measure how long writes paused.
package writeload

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Options of a load.
type Options struct {
	// Prefix of the keys written: PREFIX:N holds N.
	Prefix string
	// Interval between two writes (0: one after the other).
	Interval time.Duration
	// MaxDuration bounds the load (default 15 minutes).
	MaxDuration time.Duration
}

// Failure is one write that got an error.
type Failure struct {
	At  time.Time
	Err string
}

// Load is a running write load.
type Load struct {
	c    redis.Cmdable
	opts Options
	stop context.CancelFunc
	done chan struct{}

	mu       sync.Mutex
	acked    []int64
	ackedAt  []time.Time
	failures []Failure
	attempts int64
}

// Start begins writing PREFIX:0, PREFIX:1, ... through c, one at a time.
func Start(ctx context.Context, c redis.Cmdable, o Options) *Load {
	if o.MaxDuration <= 0 {
		o.MaxDuration = 15 * time.Minute
	}
	if o.Prefix == "" {
		o.Prefix = "writeload"
	}
	ctx, cancel := context.WithTimeout(ctx, o.MaxDuration)
	l := &Load{c: c, opts: o, stop: cancel, done: make(chan struct{})}
	go l.run(ctx)
	return l
}

func (l *Load) run(ctx context.Context) {
	defer close(l.done)
	for i := int64(0); ctx.Err() == nil; i++ {
		err := l.c.Set(ctx, l.key(i), strconv.FormatInt(i, 10), 0).Err()
		now := time.Now()
		l.mu.Lock()
		l.attempts++
		if err == nil {
			l.acked = append(l.acked, i)
			l.ackedAt = append(l.ackedAt, now)
		} else if ctx.Err() == nil {
			l.failures = append(l.failures, Failure{At: now, Err: err.Error()})
		}
		l.mu.Unlock()
		if l.opts.Interval > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(l.opts.Interval):
			}
		}
	}
}

func (l *Load) key(i int64) string { return l.opts.Prefix + ":" + strconv.FormatInt(i, 10) }

// Acked returns how many writes were acknowledged so far.
func (l *Load) Acked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

// WaitAcked waits until n more writes than now were acknowledged, so a test
// knows the load really runs (before an operation) and really resumed
// (after it).
func (l *Load) WaitAcked(ctx context.Context, n int) error {
	want := l.Acked() + n
	for l.Acked() < want {
		select {
		case <-ctx.Done():
			return fmt.Errorf("cannot see %d more acknowledged writes (at %d, last failure %q): %w", n, l.Acked(), l.lastFailure(), ctx.Err())
		case <-l.done:
			return fmt.Errorf("the load stopped at %d acknowledged writes", l.Acked())
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}

// FailuresSince returns the failed writes from t on.
func (l *Load) FailuresSince(t time.Time) []Failure {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Failure
	for _, f := range l.failures {
		if !f.At.Before(t) {
			out = append(out, f)
		}
	}
	return out
}

// LongestGapSince returns the longest time between two acknowledged writes
// from t on: the longest write pause a client saw since then.
func (l *Load) LongestGapSince(t time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var g time.Duration
	for i := len(l.ackedAt) - 1; i > 0 && !l.ackedAt[i-1].Before(t); i-- {
		g = max(g, l.ackedAt[i].Sub(l.ackedAt[i-1]))
	}
	return g
}

func (l *Load) lastFailure() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.failures) == 0 {
		return ""
	}
	return l.failures[len(l.failures)-1].Err
}

// Stop ends the load and reports it.
func (l *Load) Stop() Report {
	l.stop()
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	r := Report{Attempts: l.attempts, Acked: append([]int64(nil), l.acked...), Failures: append([]Failure(nil), l.failures...), prefix: l.opts.Prefix}
	for i := 1; i < len(l.ackedAt); i++ {
		if g := l.ackedAt[i].Sub(l.ackedAt[i-1]); g > r.LongestGap {
			r.LongestGap, r.LongestGapAt = g, l.ackedAt[i-1]
		}
	}
	return r
}

// Report is what a load saw.
type Report struct {
	Attempts int64
	Acked    []int64
	Failures []Failure
	// LongestGap is the longest time between two acknowledged writes: the
	// longest write pause a client saw. LongestGapAt is when it began.
	LongestGap   time.Duration
	LongestGapAt time.Time
	prefix       string
}

// FailureWindow is the time from the first to the last failed write; zero
// when none failed.
func (r Report) FailureWindow() time.Duration {
	if len(r.Failures) == 0 {
		return 0
	}
	return r.Failures[len(r.Failures)-1].At.Sub(r.Failures[0].At)
}

// Summary is one line for logs.
func (r Report) Summary() string {
	s := fmt.Sprintf("%d writes, %d acknowledged, %d failed, longest pause %s", r.Attempts, len(r.Acked), len(r.Failures), r.LongestGap.Round(time.Millisecond))
	if len(r.Failures) > 0 {
		s += fmt.Sprintf(", failures within %s, first %q", r.FailureWindow().Round(time.Millisecond), r.Failures[0].Err)
	}
	return s
}

// Lost reads every acknowledged key back through c and returns those that
// are missing or hold another value.
func (r Report) Lost(ctx context.Context, c redis.Cmdable) ([]string, error) {
	var lost []string
	const chunk = 500
	for start := 0; start < len(r.Acked); start += chunk {
		end := min(start+chunk, len(r.Acked))
		keys := make([]string, 0, end-start)
		for _, i := range r.Acked[start:end] {
			keys = append(keys, r.prefix+":"+strconv.FormatInt(i, 10))
		}
		vals, err := c.MGet(ctx, keys...).Result()
		if err != nil {
			return nil, fmt.Errorf("cannot read back the acknowledged writes: %w", err)
		}
		for j, v := range vals {
			if s, ok := v.(string); !ok || s != strconv.FormatInt(r.Acked[start+j], 10) {
				lost = append(lost, keys[j])
			}
		}
	}
	return lost, nil
}
