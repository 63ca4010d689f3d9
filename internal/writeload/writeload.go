// Package writeload runs a steady, bounded write load against Redis and
// records every acknowledged write, so that tests and benchmarks can check
// afterwards that none was lost and measure how long writes paused. A
// Recorder does the bookkeeping for writes made elsewhere (another client
// library, another process) so that they are checked the same way.
package writeload

import (
	"context"
	"errors"
	"fmt"
	"strconv"
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

// IsReply tells whether err is an error reply of Redis (NOREPLICAS,
// READONLY, LOADING, ...) rather than a connection that broke, closed or
// timed out.
func IsReply(err error) bool {
	var re redis.Error
	return errors.As(err, &re)
}

// Load is a running write load.
type Load struct {
	*Recorder
	c    redis.Cmdable
	opts Options
	stop context.CancelFunc
	done chan struct{}
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
	l := &Load{Recorder: NewRecorder(o.Prefix), c: c, opts: o, stop: cancel, done: make(chan struct{})}
	go l.run(ctx)
	return l
}

func (l *Load) run(ctx context.Context) {
	defer close(l.done)
	for i := int64(0); ctx.Err() == nil; i++ {
		err := l.c.Set(ctx, Key(l.opts.Prefix, i), strconv.FormatInt(i, 10), 0).Err()
		switch {
		case err == nil:
			l.Ack(i)
		case ctx.Err() == nil:
			l.Fail(err.Error(), IsReply(err))
		default:
			// The load was stopped in the middle of a write: not a failure.
			l.attempt()
		}
		if l.opts.Interval > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(l.opts.Interval):
			}
		}
	}
}

// Key is the key a load with prefix writes as its write number i.
func Key(prefix string, i int64) string { return prefix + ":" + strconv.FormatInt(i, 10) }

// WaitAcked waits until n more writes than now were acknowledged, so a test
// knows the load really runs (before an operation) and really resumed
// (after it).
func (l *Load) WaitAcked(ctx context.Context, n int) error {
	return l.Recorder.waitAcked(ctx, n, l.done)
}

// Stop ends the load and reports it.
func (l *Load) Stop() Report {
	l.stop()
	<-l.done
	return l.Report()
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

// ErrorReplies returns the failed writes that Redis refused with an error
// reply.
func (r Report) ErrorReplies() []Failure { return filter(r.Failures, true) }

// ConnectionErrors returns the failed writes whose connection broke,
// closed or timed out.
func (r Report) ConnectionErrors() []Failure { return filter(r.Failures, false) }

func filter(fs []Failure, reply bool) []Failure {
	var out []Failure
	for _, f := range fs {
		if f.Reply == reply {
			out = append(out, f)
		}
	}
	return out
}

// Summary is one line for logs.
func (r Report) Summary() string {
	s := fmt.Sprintf("%d writes, %d acknowledged, %d failed (%d error replies, %d connection errors), longest pause %s",
		r.Attempts, len(r.Acked), len(r.Failures), len(r.ErrorReplies()), len(r.ConnectionErrors()), r.LongestGap.Round(time.Millisecond))
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
			keys = append(keys, Key(r.prefix, i))
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
