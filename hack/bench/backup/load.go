package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Shape of the data set: of every ten units of about 1 KiB, eight are
// strings of valueSize bytes, one a hash and one a list of fields
// elements of elemSize bytes. The bytes are random, so that the RDB's
// compression of strings changes nothing and the RDB is about as large as
// the data.
const (
	valueSize = 1024
	fields    = 16
	elemSize  = 64
	batch     = 256
	catchUp   = 50 * time.Millisecond
)

// dataset is -size-mib of mixed keys.
type dataset struct {
	units int
	pool  []byte
}

func newDataset(sizeMiB int) dataset {
	r := rand.New(rand.NewChaCha8([32]byte{'h', 'a', 'r', 'e', 'd', 'i', 's'}))
	pool := make([]byte, 4*mib)
	for i := 0; i+8 <= len(pool); i += 8 {
		v := r.Uint64()
		for j := range 8 {
			pool[i+j] = byte(v >> (8 * j))
		}
	}
	return dataset{units: max(10, sizeMiB*mib/valueSize), pool: pool}
}

// value is n bytes of the pool chosen by i.
func (d dataset) value(i, n int) []byte {
	off := (i * 4099) % (len(d.pool) - n)
	return d.pool[off : off+n]
}

// write fills c with the data set through pipelines of batch commands.
func (d dataset) write(ctx context.Context, c *redis.Client) error {
	p := c.Pipeline()
	for i := range d.units {
		switch i % 10 {
		case 8:
			args := make([]any, 0, 2*fields)
			for f := range fields {
				args = append(args, "f"+strconv.Itoa(f), d.value(i*fields+f, elemSize))
			}
			p.HSet(ctx, "bench:h:"+strconv.Itoa(i), args...)
		case 9:
			args := make([]any, 0, fields)
			for f := range fields {
				args = append(args, d.value(i*fields+f, elemSize))
			}
			p.RPush(ctx, "bench:l:"+strconv.Itoa(i), args...)
		default:
			p.Set(ctx, "bench:s:"+strconv.Itoa(i), d.value(i, valueSize), 0)
		}
		if p.Len() >= batch || i == d.units-1 {
			if _, err := p.Exec(ctx); err != nil {
				return fmt.Errorf("cannot write the data set (at unit %d of %d): %w", i, d.units, err)
			}
		}
	}
	return nil
}

// loadKey is the k-th key the write load overwrites: strings of the data
// set, so that the load never changes the key count.
func (d dataset) loadKey(k int) string {
	return "bench:s:" + strconv.Itoa((k%(d.units/10))*10)
}

// sample is one write of the load: when it was sent, how long it took.
type sample struct {
	at time.Time
	d  time.Duration
}

// loadResult is what a write load measured.
type loadResult struct {
	samples []sample
	errors  int
	last    string
}

// runLoad writes valueSize-byte SETs through one connection at rate per
// second until ctx ends or limit has passed. Writes that fall behind the
// schedule (timers oversleep on a busy machine) catch up at once, but never
// by more than catchUp: a longer stall is not made up with a burst.
func runLoad(ctx context.Context, c *redis.Client, d dataset, rate int, limit time.Duration) loadResult {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	interval := time.Second / time.Duration(rate)
	res := loadResult{samples: make([]sample, 0, int(limit.Seconds()+1)*rate)}
	next := time.Now()
	for k := 0; ; k++ {
		if wait := time.Until(next); wait > 0 {
			select {
			case <-ctx.Done():
				return res
			case <-time.After(wait):
			}
		} else if ctx.Err() != nil {
			return res
		}
		start := time.Now()
		err := c.Set(ctx, d.loadKey(k), d.value(k, valueSize), 0).Err()
		switch {
		case err == nil:
			res.samples = append(res.samples, sample{at: start, d: time.Since(start)})
		case ctx.Err() == nil:
			res.errors++
			res.last = err.Error()
		}
		next = next.Add(interval)
		if now := time.Now(); now.Sub(next) > catchUp {
			next = now
		}
	}
}

// within is the latencies of the samples sent between from and to.
func (r loadResult) within(from, to time.Time) []time.Duration {
	var out []time.Duration
	for _, s := range r.samples {
		if !s.at.Before(from) && !s.at.After(to) {
			out = append(out, s.d)
		}
	}
	return out
}

func (r loadResult) all() []time.Duration {
	out := make([]time.Duration, len(r.samples))
	for i, s := range r.samples {
		out[i] = s.d
	}
	return out
}

// quantile q of ds (nearest rank); 0 when ds is empty.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(q*float64(len(s))+0.999999) - 1
	return s[min(len(s)-1, max(0, i))]
}

// replField reads one field of INFO replication.
func replField(ctx context.Context, c *redis.Client, field string) (string, error) {
	info, err := c.Info(ctx, "replication").Result()
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v, nil
		}
	}
	return "", fmt.Errorf("INFO replication has no %s", field)
}

// waitInSync waits until the replica has processed every write of the
// primary and holds as many keys.
func waitInSync(ctx context.Context, primary, replica *redis.Client, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		last = func() error {
			po, err := replField(ctx, primary, "master_repl_offset")
			if err != nil {
				return err
			}
			ro, err := replField(ctx, replica, "slave_repl_offset")
			if err != nil {
				return err
			}
			if po != ro {
				return fmt.Errorf("the primary is at offset %s, the replica at %s", po, ro)
			}
			pk, err1 := primary.DBSize(ctx).Result()
			rk, err2 := replica.DBSize(ctx).Result()
			if err1 != nil || err2 != nil || pk != rk {
				return fmt.Errorf("the primary holds %d keys, the replica %d (%v %v)", pk, rk, err1, err2)
			}
			return nil
		}()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the replica is not in sync after %s: %w", timeout, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
