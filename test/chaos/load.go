package chaos

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// writeInterval paces each writer: about 100 writes a second each, enough
// to see a loss window of a few milliseconds, little enough for two cores
// shared with the bed.
const writeInterval = 10 * time.Millisecond

// maxWrites bounds a writer whatever happens (a sequence of 8 steps writes
// well under a tenth of it).
const maxWrites = 2_000_000

// ack is one acknowledged write: key PREFIX:Seq holds Seq.
type ack struct {
	seq  int64
	at   time.Time
	step int32
}

// failure is one write that got an error. at is when it was sent: a write
// that fails on a dial or read timeout fails a second or more later, and
// what failed it is the state when it was sent (a dropped SYN is not sent
// again within the dial timeout). Attributed to its end, such a write
// would also stand apart from the failures just before it, as an episode
// of its own.
type failure struct {
	at   time.Time
	err  string
	step int32
}

// writer writes PREFIX:0, PREFIX:1, ... one at a time through a client that
// can be replaced (a recreated RedisFailover has a new password and master
// name), and records every acknowledged write with the step it was
// acknowledged in.
type writer struct {
	name   string
	prefix string
	step   *atomic.Int32
	done   chan struct{}
	cancel context.CancelFunc

	mu    sync.Mutex
	c     redis.UniversalClient
	acks  []ack
	fails []failure
}

func startWriter(ctx context.Context, name, prefix string, c redis.UniversalClient, step *atomic.Int32) *writer {
	ctx, cancel := context.WithCancel(ctx)
	w := &writer{name: name, prefix: prefix, step: step, c: c, done: make(chan struct{}), cancel: cancel}
	go w.run(ctx)
	return w
}

func (w *writer) key(seq int64) string { return w.prefix + strconv.FormatInt(seq, 10) }

func (w *writer) run(ctx context.Context) {
	defer close(w.done)
	for seq := int64(0); seq < maxWrites && ctx.Err() == nil; seq++ {
		w.mu.Lock()
		c := w.c
		w.mu.Unlock()
		sent := time.Now()
		err := c.Set(ctx, w.key(seq), strconv.FormatInt(seq, 10), 0).Err()
		now := time.Now()
		step := w.step.Load()
		pause := writeInterval
		w.mu.Lock()
		switch {
		case err == nil:
			w.acks = append(w.acks, ack{seq: seq, at: now, step: step})
		case ctx.Err() == nil:
			w.fails = append(w.fails, failure{at: sent, err: err.Error(), step: step})
			pause = 5 * writeInterval
		}
		w.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(pause):
		}
	}
}

// swap replaces the client; the old one is closed.
func (w *writer) swap(c redis.UniversalClient) {
	w.mu.Lock()
	old := w.c
	w.c = c
	w.mu.Unlock()
	_ = old.Close()
}

// stop ends the writer and closes its client.
func (w *writer) stop() {
	w.cancel()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	_ = w.c.Close()
}

// snapshot returns the acknowledged writes so far.
func (w *writer) snapshot() []ack {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]ack(nil), w.acks...)
}

func (w *writer) failures() []failure {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]failure(nil), w.fails...)
}

// ackedSince counts writes acknowledged after t.
func (w *writer) ackedSince(t time.Time) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for i := len(w.acks) - 1; i >= 0 && w.acks[i].at.After(t); i-- {
		n++
	}
	return n
}

// lastFailure describes the latest failed write.
func (w *writer) lastFailure() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.fails) == 0 {
		return "none"
	}
	f := w.fails[len(w.fails)-1]
	return fmt.Sprintf("%q at %s", f.err, f.at.Format("15:04:05.000"))
}

// failuresBetween summarises the failed writes in [from, to).
func (w *writer) failuresBetween(from, to time.Time) (n int, window time.Duration, first string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var a, b time.Time
	for _, f := range w.fails {
		if f.at.Before(from) || !f.at.Before(to) {
			continue
		}
		if n == 0 {
			a, first = f.at, f.err
		}
		b = f.at
		n++
	}
	return n, b.Sub(a), first
}

// missing reads every acknowledged write of acks back through c (MGET in
// chunks) and returns those missing or holding another value, skipping the
// keys in skip.
func (w *writer) missing(ctx context.Context, c redis.Cmdable, acks []ack, skip map[string]bool) ([]ack, error) {
	const chunk = 1000
	var out []ack
	todo := make([]ack, 0, len(acks))
	for _, a := range acks {
		if !skip[w.key(a.seq)] {
			todo = append(todo, a)
		}
	}
	for start := 0; start < len(todo); start += chunk {
		part := todo[start:min(start+chunk, len(todo))]
		keys := make([]string, len(part))
		for i, a := range part {
			keys[i] = w.key(a.seq)
		}
		vals, err := c.MGet(ctx, keys...).Result()
		if err != nil {
			return nil, fmt.Errorf("cannot read back the writes of %s: %w", w.name, err)
		}
		for i, v := range vals {
			if s, ok := v.(string); !ok || s != strconv.FormatInt(part[i].seq, 10) {
				out = append(out, part[i])
			}
		}
	}
	return out, nil
}
