package rdbstream

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/haredis/haredis/internal/redistest"
)

const testPassword = "rdb-pw"

// engineUnderTest is a server binary and what its RDB header says.
type engineUnderTest struct {
	name       string
	binary     string
	rdbVersion int
	valkey     bool
}

func redisEngine() engineUnderTest {
	return engineUnderTest{name: "redis", binary: "redis-server", rdbVersion: 10}
}

// valkeyEngine is the Valkey the test bed runs: $HAREDIS_VALKEY_DIR, else
// bin/valkey-* of the repository.
func valkeyEngine(t *testing.T) engineUnderTest {
	t.Helper()
	dir := os.Getenv("HAREDIS_VALKEY_DIR")
	if dir == "" {
		dirs, _ := filepath.Glob(filepath.Join("..", "..", "bin", "valkey-*"))
		if len(dirs) == 0 {
			t.Skip("no Valkey: make setup-bed unpacks it into bin/, or set HAREDIS_VALKEY_DIR")
		}
		dir = dirs[len(dirs)-1]
	}
	bin := filepath.Join(dir, "usr", "bin", "valkey-server")
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("no Valkey: %v", err)
	}
	return engineUnderTest{name: "valkey", binary: bin, rdbVersion: 11, valkey: true}
}

func startServer(t *testing.T, binary string, extra ...string) *redistest.Server {
	t.Helper()
	// DEBUG DIGEST compares data sets.
	extra = append([]string{"enable-debug-command yes"}, extra...)
	s, err := redistest.StartServer(redistest.ServerConfig{Binary: binary, Password: testPassword, Extra: extra})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// fill writes keys of every common type in two databases, with an expiry,
// a large compressible value (LZF in the RDB) and a large random-looking one.
func fill(t *testing.T, s *redistest.Server) {
	t.Helper()
	ctx := context.Background()
	for _, db := range []int{0, 3} {
		c := redis.NewClient(&redis.Options{Addr: s.Addr(), Password: testPassword, DB: db})
		p := c.Pipeline()
		for i := range 200 {
			p.Set(ctx, fmt.Sprintf("str:%d", i), fmt.Sprintf("value-%d", i*7919), 0)
		}
		p.Set(ctx, "int", 12345, 0)
		p.Set(ctx, "expiring", "soon", time.Hour)
		p.Set(ctx, "big", strings.Repeat("abcdefgh", 64<<10), 0)
		var noise strings.Builder
		for i := range 20000 {
			fmt.Fprintf(&noise, "%x", uint32(i)*2654435761)
		}
		p.Set(ctx, "noise", noise.String(), 0)
		p.HSet(ctx, "hash", "a", "1", "b", "2", "c", strings.Repeat("x", 100))
		p.RPush(ctx, "list", "one", "two", "three", 4, 5)
		p.SAdd(ctx, "set", "x", "y", "z", 1, 2, 3)
		p.ZAdd(ctx, "zset", redis.Z{Score: 1.5, Member: "a"}, redis.Z{Score: -2, Member: "b"})
		p.XAdd(ctx, &redis.XAddArgs{Stream: "stream", Values: map[string]any{"f": "v", "g": 42}})
		if _, err := p.Exec(ctx); err != nil {
			t.Fatalf("cannot fill db %d: %v", db, err)
		}
		c.Close()
	}
}

// dataSet is what two servers must agree on: DEBUG DIGEST (every key and
// value of every database) and DBSIZE of each database written.
func dataSet(t *testing.T, addr string) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	for _, db := range []int{0, 3} {
		c := redis.NewClient(&redis.Options{Addr: addr, Password: testPassword, DB: db})
		n, err := c.DBSize(ctx).Result()
		if err != nil {
			t.Fatalf("DBSIZE of %s db %d: %v", addr, db, err)
		}
		fmt.Fprintf(&b, "db%d:%d ", db, n)
		if db == 0 {
			d, err := c.Do(ctx, "DEBUG", "DIGEST").Text()
			if err != nil {
				t.Fatalf("DEBUG DIGEST of %s: %v", addr, err)
			}
			fmt.Fprintf(&b, "digest:%s ", d)
		}
		c.Close()
	}
	return b.String()
}

func info(t *testing.T, s *redistest.Server, field string) string {
	t.Helper()
	c := s.Client()
	defer c.Close()
	text, err := c.Info(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(text, "\r\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			return v
		}
	}
	t.Fatalf("INFO of %s has no %s", s.Addr(), field)
	return ""
}

func TestSnapshotLoadsIntoAnotherServer(t *testing.T) {
	engines := []engineUnderTest{redisEngine(), valkeyEngine(t)}
	for _, e := range engines {
		for _, diskless := range []bool{true, false} {
			mode := map[bool]string{true: "diskless", false: "disk"}[diskless]
			t.Run(e.name+"/"+mode, func(t *testing.T) {
				src := startServer(t, e.binary, "repl-diskless-sync "+map[bool]string{true: "yes", false: "no"}[diskless],
					"repl-diskless-sync-delay 1")
				fill(t, src)
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				s, err := Open(ctx, src.Addr(), "", testPassword, time.Second)
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				if want := info(t, src, "master_replid"); s.ReplID != want {
					t.Errorf("ReplID %q, want the server's %q", s.ReplID, want)
				}
				dir := t.TempDir()
				f, err := os.Create(filepath.Join(dir, "backup.rdb"))
				if err != nil {
					t.Fatal(err)
				}
				// Small writes: the stream is read piece by piece.
				n, err := bufio.NewReaderSize(s, 16).WriteTo(f)
				if cerr := f.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					t.Fatalf("streaming the RDB: %v", err)
				}
				if s.Diskless() != diskless {
					t.Errorf("Diskless() = %v, want %v", s.Diskless(), diskless)
				}
				if !diskless && s.Size() != n {
					t.Errorf("Size() = %d, %d bytes read", s.Size(), n)
				}
				want := Header{RDBVersion: e.rdbVersion, ReplID: s.ReplID, ReplOffset: s.Offset, HasData: true}
				if e.valkey {
					want.ValkeyVer = info(t, src, "valkey_version")
				} else {
					want.RedisVer = info(t, src, "redis_version")
				}
				if diff := cmp.Diff(want, s.Header()); diff != "" {
					t.Errorf("header (-want +got):\n%s", diff)
				}

				dst := startServer(t, e.binary, "dir "+dir, "dbfilename backup.rdb")
				if got, want := dataSet(t, dst.Addr()), dataSet(t, src.Addr()); got != want {
					t.Errorf("the server that loaded the %d-byte snapshot holds %s, the source %s", n, got, want)
				}
			})
		}
	}
}

// TestDamagedSnapshotFails replays a real snapshot with one byte flipped, or
// cut short, and wants an error where a clean end would store a bad backup.
func TestDamagedSnapshotFails(t *testing.T) {
	src := startServer(t, "redis-server", "repl-diskless-sync-delay 0")
	fill(t, src)
	s, err := Open(context.Background(), src.Addr(), "", testPassword, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	rdb, err := readAll(bufio.NewReaderSize(s, 64<<10))
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	flipped := append([]byte(nil), rdb...)
	flipped[len(rdb)/2] ^= 0x01
	for _, tc := range []struct {
		name, want string
		sync       func(*bufio.Writer)
	}{
		{"flipped byte", "is corrupt", markSync(flipped, true)},
		{"cut short", "before the mark that ends it", markSync(rdb[:len(rdb)/2], false)},
		{"length announced, cut short", "of the " + fmt.Sprint(len(rdb)) + " bytes", lengthSync(rdb[:len(rdb)-1], len(rdb))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openFake(t, startFake(t, okReplies, tc.sync), "", "")
			failing(t, s, tc.want)
		})
	}
	// The pristine bytes pass the same way.
	s = openFake(t, startFake(t, okReplies, markSync(rdb, true)), "", "")
	if _, err := readAll(s); err != nil {
		t.Errorf("the intact snapshot fails: %v", err)
	}
}

func TestWrongPasswordOfRealServer(t *testing.T) {
	src := startServer(t, "redis-server")
	_, err := Open(context.Background(), src.Addr(), "", "not-the-password", time.Second)
	if err == nil || !strings.Contains(err.Error(), "WRONGPASS") || strings.Contains(err.Error(), "not-the-password") {
		t.Errorf("Open with a wrong password: %v; want WRONGPASS, without the password", err)
	}
	_, err = Open(context.Background(), src.Addr(), "", "", time.Second)
	if err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Errorf("Open without a password: %v; want NOAUTH", err)
	}
	if errors.Is(err, context.Canceled) {
		t.Errorf("error %v names a cancel that did not happen", err)
	}
}

// TestSnapshotOverUnixSocket takes a snapshot through the server's Unix
// socket, the way to a local server that speaks TLS only on its TCP port.
func TestSnapshotOverUnixSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "redis.sock")
	src := startServer(t, "redis-server", "repl-diskless-sync-delay 0", "unixsocket "+sock, "unixsocketperm 700")
	fill(t, src)
	s, err := OpenNetwork(context.Background(), "unix", sock, "", testPassword, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.ReplID == "" {
		t.Error("the snapshot has no replication ID")
	}
	rdb, err := readAll(bufio.NewReaderSize(s, 64<<10))
	if err != nil {
		t.Fatalf("reading the snapshot over the Unix socket: %v", err)
	}
	if !strings.HasPrefix(string(rdb), "REDIS") {
		t.Errorf("the snapshot does not start as an RDB file: %q", rdb[:min(len(rdb), 9)])
	}
}
