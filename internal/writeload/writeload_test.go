package writeload

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/haredis/haredis/internal/redistest"
)

// TestFailuresTellRepliesFromConnectionErrors: a primary without the
// replicas min-replicas-to-write asks for refuses writes with an error
// reply; a server that is gone fails them with connection errors. The
// report keeps them apart, and counts what was acknowledged before.
func TestFailuresTellRepliesFromConnectionErrors(t *testing.T) {
	srv, err := redistest.StartServer(redistest.ServerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer c.Close()
	load := Start(ctx, c, Options{Prefix: "wl", Interval: time.Millisecond})
	if err := load.WaitAcked(ctx, 20); err != nil {
		t.Fatal(err)
	}
	admin := srv.Client()
	defer admin.Close()
	if err := admin.ConfigSet(ctx, "min-replicas-to-write", "1").Err(); err != nil {
		t.Fatal(err)
	}
	redistest.WaitFor(t, 10*time.Second, "an error reply recorded", func(ctx context.Context) error {
		if len(load.Report().ErrorReplies()) == 0 {
			return errNotYet
		}
		return nil
	})
	srv.Kill()
	redistest.WaitFor(t, 10*time.Second, "a connection error recorded", func(ctx context.Context) error {
		if len(load.Report().ConnectionErrors()) == 0 {
			return errNotYet
		}
		return nil
	})
	rep := load.Stop()
	t.Log(rep.Summary())
	if r := rep.ErrorReplies(); r[0].Err != "NOREPLICAS Not enough good replicas to write." {
		t.Errorf("first error reply %q, want NOREPLICAS", r[0].Err)
	}
	if len(rep.Acked) < 20 {
		t.Errorf("%d acknowledged writes recorded, want at least 20", len(rep.Acked))
	}
}

var errNotYet = errors.New("not yet")
