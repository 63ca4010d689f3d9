package rdbimport

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/haredis/haredis/internal/redistest"
)

// dumpOf writes a data set of every type (and a key in database 3, one
// that exists in the target too, one about to expire) to a fresh server
// and returns the server and its RDB file as `redis-cli --rdb` takes it.
func dumpOf(t *testing.T, ds redistest.Dataset) (*redistest.Server, []byte) {
	t.Helper()
	ctx := context.Background()
	src, err := redistest.StartServer(redistest.ServerConfig{Password: "src-pw"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(src.Close)
	c := src.Client()
	defer c.Close()
	if err := ds.Write(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, "existing", "from-the-file", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, "soon-gone", "x", 1500*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	c3 := redis.NewClient(&redis.Options{Addr: src.Addr(), Password: "src-pw", DB: 3})
	defer c3.Close()
	if err := c3.Set(ctx, "in-db-3", "three", 0).Err(); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "dump.rdb")
	cmd := exec.Command("redis-cli", "-h", "127.0.0.1", "-p", strconv.Itoa(src.Port()), "--no-auth-warning", "--rdb", file)
	cmd.Env = append(os.Environ(), "REDISCLI_AUTH=src-pw")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --rdb: %v\n%s", err, out)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return src, data
}

func TestImportCopiesEveryKeyOnline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ds := redistest.Dataset{Prefix: "imp", N: 40}
	src, file := dumpOf(t, ds)
	target, err := redistest.StartServer(redistest.ServerConfig{Password: "target-pw"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(target.Close)
	tc := target.Client()
	defer tc.Close()
	if err := tc.Set(ctx, "existing", "the-target's", 0).Err(); err != nil {
		t.Fatal(err)
	}
	// A replica of the target follows the import, as haredis's replicas do.
	replica, err := redistest.StartServer(redistest.ServerConfig{Password: "target-pw", ReplicaOf: target.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(replica.Close)

	// soon-gone is imported with what is left of its TTL, or counted
	// expired, or was never loaded: never lost from the count.
	rep, err := Import(ctx, bytes.NewReader(file), Options{Target: target.Addr(), Password: "target-pw", Batch: 25})
	if err != nil {
		t.Fatalf("import: %v (%+v)", err, rep)
	}
	t.Logf("report: %+v", rep)
	wantKeys := int64(len(ds.Keys())) + 3
	if rep.Keys != wantKeys && rep.Keys != wantKeys-1 {
		t.Errorf("keys %d, want %d (or one less if soon-gone expired before the load)", rep.Keys, wantKeys)
	}
	if rep.Imported+rep.Skipped+rep.Expired+rep.Refused != rep.Keys {
		t.Errorf("imported+skipped+expired+refused != keys: %+v", rep)
	}
	if rep.Skipped != 1 || rep.Refused != 0 {
		t.Errorf("skipped %d refused %d, want 1 (existing) and 0: %+v", rep.Skipped, rep.Refused, rep.Refusals)
	}
	if rep.Format == 0 || !strings.HasPrefix(rep.Writer, "redis ") || rep.Bytes != int64(len(file)) {
		t.Errorf("file described as format %d, writer %q, %d bytes", rep.Format, rep.Writer, rep.Bytes)
	}
	if len(rep.Databases) != 2 || rep.Databases[0] != 0 || rep.Databases[1] != 3 {
		t.Errorf("databases %v, want [0 3]", rep.Databases)
	}
	sc := src.Client()
	defer sc.Close()
	if err := ds.Compare(ctx, sc, tc); err != nil {
		t.Errorf("target after the import: %v", err)
	}
	if v, _ := tc.Get(ctx, "existing").Result(); v != "the-target's" {
		t.Errorf("existing key overwritten without Replace: %q", v)
	}
	t3 := redis.NewClient(&redis.Options{Addr: target.Addr(), Password: "target-pw", DB: 3})
	defer t3.Close()
	if v, _ := t3.Get(ctx, "in-db-3").Result(); v != "three" {
		t.Errorf("in-db-3 in database 3: %q", v)
	}
	rc := replica.Client()
	defer rc.Close()
	redistest.WaitFor(t, 30*time.Second, "the replica to have the imported keys", func(ctx context.Context) error {
		return ds.Compare(ctx, sc, rc)
	})

	// Again with Replace: every key is the file's.
	rep, err = Import(ctx, bytes.NewReader(file), Options{Target: target.Addr(), Password: "target-pw", Replace: true})
	if err != nil {
		t.Fatalf("import with replace: %v", err)
	}
	if rep.Skipped != 0 || rep.Imported+rep.Expired != rep.Keys {
		t.Errorf("with Replace: %+v", rep)
	}
	if v, _ := tc.Get(ctx, "existing").Result(); v != "from-the-file" {
		t.Errorf("existing key with Replace: %q", v)
	}
}

func TestImportRefusesBadFilesAndTargets(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, file := dumpOf(t, redistest.Dataset{Prefix: "bad", N: 5})
	target, err := redistest.StartServer(redistest.ServerConfig{Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(target.Close)
	replica, err := redistest.StartServer(redistest.ServerConfig{Password: "pw", ReplicaOf: target.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(replica.Close)
	tc := target.Client()
	defer tc.Close()
	cases := map[string]struct {
		file   []byte
		target string
		want   string
	}{
		"cut file":      {file: file[:len(file)-20], target: target.Addr(), want: "ends early"},
		"not an RDB":    {file: []byte("*1\r\n$4\r\nPING\r\n"), target: target.Addr(), want: "not an RDB file"},
		"flipped byte":  {file: flip(file), target: target.Addr(), want: "checksum"},
		"replica":       {file: file, target: replica.Addr(), want: "not a primary"},
		"wrong address": {file: file, target: "127.0.0.1:1", want: "cannot reach the target"},
	}
	for name, tc2 := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Import(ctx, bytes.NewReader(tc2.file), Options{Target: tc2.target, Password: "pw"})
			if err == nil || !strings.Contains(err.Error(), tc2.want) {
				t.Fatalf("error %v, want one with %q", err, tc2.want)
			}
			if n, _ := tc.DBSize(ctx).Result(); n != 0 {
				t.Errorf("the target has %d keys after a refused import", n)
			}
		})
	}
}

// flip changes one byte in the middle of the file's data.
func flip(b []byte) []byte {
	c := append([]byte(nil), b...)
	c[len(c)/2] ^= 0xff
	return c
}
