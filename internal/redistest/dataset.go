package redistest

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Dataset writes keys of every Redis type (strings, lists, sets, sorted
// sets, hashes, streams with consumer groups, HyperLogLogs, bitmaps), a
// part of them with expirations, and compares two servers key by key. It
// is what backup, restore and import are checked against.
type Dataset struct {
	// Prefix starts every key; N is how many keys of each type.
	Prefix string
	N      int
}

// TTL is the expiration of the keys that have one: long enough to outlive
// any test.
const TTL = 2 * time.Hour

// Keys lists every key Write writes.
func (d Dataset) Keys() []string {
	var keys []string
	for _, t := range datasetTypes {
		for i := range d.N {
			keys = append(keys, d.key(t, i))
		}
	}
	return keys
}

var datasetTypes = []string{"string", "list", "set", "zset", "hash", "stream", "hll", "bitmap"}

func (d Dataset) key(typ string, i int) string { return fmt.Sprintf("%s:%s:%d", d.Prefix, typ, i) }

// Write writes the data set through c, in pipelines of one key's commands.
func (d Dataset) Write(ctx context.Context, c redis.UniversalClient) error {
	for i := range d.N {
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			v := strconv.Itoa(i)
			p.Set(ctx, d.key("string", i), "value-"+v, 0)
			p.RPush(ctx, d.key("list", i), "a"+v, "b"+v, "c"+v, i)
			p.SAdd(ctx, d.key("set", i), "x"+v, "y"+v, "z"+v)
			p.ZAdd(ctx, d.key("zset", i), redis.Z{Score: float64(i), Member: "m" + v}, redis.Z{Score: 1.5, Member: "n" + v})
			p.HSet(ctx, d.key("hash", i), "f1", v, "f2", "two-"+v)
			sk := d.key("stream", i)
			p.XAdd(ctx, &redis.XAddArgs{Stream: sk, ID: "1-1", Values: []any{"k", v}})
			p.XAdd(ctx, &redis.XAddArgs{Stream: sk, ID: "2-1", Values: []any{"k", "next-" + v}})
			p.XGroupCreate(ctx, sk, "workers", "0")
			p.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "workers", Consumer: "c1", Streams: []string{sk, ">"}, Count: 1})
			p.PFAdd(ctx, d.key("hll", i), "u1", "u2", "u"+v)
			p.SetBit(ctx, d.key("bitmap", i), int64(i%64), 1)
			p.SetBit(ctx, d.key("bitmap", i), 100, 1)
			if i%3 == 0 {
				for _, t := range datasetTypes {
					p.Expire(ctx, d.key(t, i), TTL)
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("cannot write key %d of the data set: %w", i, err)
		}
	}
	return nil
}

// Compare reads every key of the data set from want and got and returns
// the first difference: a missing key, another type or value, a lost or
// added expiration. TTLs match when both have one (they count down). Keys
// are read in pipelined batches: a few round trips per hundred keys.
func (d Dataset) Compare(ctx context.Context, want, got redis.UniversalClient) error {
	keys := d.Keys()
	for len(keys) > 0 {
		batch := keys[:min(compareBatch, len(keys))]
		keys = keys[len(batch):]
		a, err := readKeys(ctx, want, batch)
		if err != nil {
			return fmt.Errorf("cannot read the data set from the source: %w", err)
		}
		b, err := readKeys(ctx, got, batch)
		if err != nil {
			return fmt.Errorf("cannot read the data set from the copy: %w", err)
		}
		for i, k := range batch {
			if !reflect.DeepEqual(a[i], b[i]) {
				return fmt.Errorf("%s differs: source %+v, copy %+v", k, a[i], b[i])
			}
		}
	}
	return nil
}

const compareBatch = 100

// keyValue is what Compare compares of a key.
type keyValue struct {
	Type   string
	Value  any
	Groups any
	HasTTL bool
}

// readKeys reads keys in two pipelines: their types and TTLs, then their
// values.
func readKeys(ctx context.Context, c redis.UniversalClient, keys []string) ([]keyValue, error) {
	types := make([]*redis.StatusCmd, len(keys))
	ttls := make([]*redis.DurationCmd, len(keys))
	if _, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			types[i], ttls[i] = p.Type(ctx, k), p.PTTL(ctx, k)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	out := make([]keyValue, len(keys))
	values := make([]redis.Cmder, len(keys))
	groups := make([]*redis.XInfoGroupsCmd, len(keys))
	if _, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			out[i] = keyValue{Type: types[i].Val(), HasTTL: ttls[i].Val() > 0}
			switch out[i].Type {
			case "none":
			case "string":
				// HyperLogLogs and bitmaps are strings: their bytes are the value.
				values[i] = p.Get(ctx, k)
			case "list":
				values[i] = p.LRange(ctx, k, 0, -1)
			case "set":
				values[i] = p.SMembers(ctx, k)
			case "zset":
				values[i] = p.ZRangeWithScores(ctx, k, 0, -1)
			case "hash":
				values[i] = p.HGetAll(ctx, k)
			case "stream":
				values[i] = p.XRange(ctx, k, "-", "+")
				groups[i] = p.XInfoGroups(ctx, k)
			default:
				return fmt.Errorf("%s has the unexpected type %s", k, out[i].Type)
			}
		}
		return nil
	}); err != nil {
		return nil, err
	}
	for i := range keys {
		switch v := values[i].(type) {
		case nil:
		case *redis.StringCmd:
			out[i].Value = v.Val()
		case *redis.StringSliceCmd:
			m := v.Val()
			if out[i].Type == "set" {
				sort.Strings(m)
			}
			out[i].Value = m
		case *redis.ZSliceCmd:
			out[i].Value = v.Val()
		case *redis.MapStringStringCmd:
			out[i].Value = v.Val()
		case *redis.XMessageSliceCmd:
			out[i].Value = v.Val()
		}
		if groups[i] != nil {
			out[i].Groups = groups[i].Val()
		}
	}
	return out, nil
}
