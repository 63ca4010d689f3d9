package redistest

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestDatasetCopiedByReplicationCompareEqualAndChangesShow(t *testing.T) {
	ctx := context.Background()
	src, err := StartServer(ServerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := StartServer(ServerConfig{ReplicaOf: src.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	a, b := src.Client(), dst.Client()
	defer a.Close()
	defer b.Close()
	d := Dataset{Prefix: "ds", N: 20}
	if err := d.Write(ctx, a); err != nil {
		t.Fatal(err)
	}
	WaitFor(t, 30*time.Second, "the replica holds the data set", func(ctx context.Context) error {
		return d.Compare(ctx, a, b)
	})
	if err := b.ReplicaOf(ctx, "NO", "ONE").Err(); err != nil {
		t.Fatal(err)
	}
	for _, change := range []struct {
		name, key string
		do        func() error
	}{
		{"value", "ds:hash:4", func() error { return b.HSet(ctx, "ds:hash:4", "f1", "other").Err() }},
		{"ttl", "ds:zset:3", func() error { return b.Persist(ctx, "ds:zset:3").Err() }},
		{"consumer group", "ds:stream:5", func() error { return b.XGroupDestroy(ctx, "ds:stream:5", "workers").Err() }},
		{"missing key", "ds:bitmap:7", func() error { return b.Del(ctx, "ds:bitmap:7").Err() }},
	} {
		if err := change.do(); err != nil {
			t.Fatal(err)
		}
		err := d.Compare(ctx, a, b)
		if err == nil || !strings.Contains(err.Error(), change.key+" differs") {
			t.Errorf("after a changed %s: %v, want a difference in %s", change.name, err, change.key)
		}
		// Put the key back as it is on the source.
		dump, err := a.Dump(ctx, change.key).Result()
		if err != nil {
			t.Fatal(err)
		}
		ttl := a.PTTL(ctx, change.key).Val()
		if ttl < 0 {
			ttl = 0
		}
		if err := b.RestoreReplace(ctx, change.key, ttl, dump).Err(); err != nil {
			t.Fatal(err)
		}
		if err := d.Compare(ctx, a, b); err != nil {
			t.Fatalf("after putting %s back: %v", change.key, err)
		}
	}
}
