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
// added expiration. TTLs match when both have one (they count down).
func (d Dataset) Compare(ctx context.Context, want, got redis.UniversalClient) error {
	for _, k := range d.Keys() {
		a, err := readKey(ctx, want, k)
		if err != nil {
			return fmt.Errorf("cannot read %s from the source: %w", k, err)
		}
		b, err := readKey(ctx, got, k)
		if err != nil {
			return fmt.Errorf("cannot read %s from the copy: %w", k, err)
		}
		if !reflect.DeepEqual(a, b) {
			return fmt.Errorf("%s differs: source %+v, copy %+v", k, a, b)
		}
	}
	return nil
}

// keyValue is what Compare compares of a key.
type keyValue struct {
	Type   string
	Value  any
	Groups any
	HasTTL bool
}

func readKey(ctx context.Context, c redis.UniversalClient, k string) (keyValue, error) {
	typ, err := c.Type(ctx, k).Result()
	if err != nil {
		return keyValue{}, err
	}
	kv := keyValue{Type: typ}
	ttl, err := c.PTTL(ctx, k).Result()
	if err != nil {
		return keyValue{}, err
	}
	kv.HasTTL = ttl > 0
	switch typ {
	case "none":
	case "string":
		// HyperLogLogs and bitmaps are strings: their bytes are the value.
		kv.Value, err = c.Get(ctx, k).Result()
	case "list":
		kv.Value, err = c.LRange(ctx, k, 0, -1).Result()
	case "set":
		var m []string
		m, err = c.SMembers(ctx, k).Result()
		sort.Strings(m)
		kv.Value = m
	case "zset":
		kv.Value, err = c.ZRangeWithScores(ctx, k, 0, -1).Result()
	case "hash":
		kv.Value, err = c.HGetAll(ctx, k).Result()
	case "stream":
		if kv.Value, err = c.XRange(ctx, k, "-", "+").Result(); err != nil {
			return kv, err
		}
		var groups []redis.XInfoGroup
		groups, err = c.XInfoGroups(ctx, k).Result()
		kv.Groups = groups
	default:
		return kv, fmt.Errorf("unexpected type %s", typ)
	}
	return kv, err
}
