package rdbimport

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/haredis/haredis/internal/engine"
	"github.com/haredis/haredis/internal/rdbstream"
	"github.com/haredis/haredis/internal/supervise"
)

// Options say where the keys go and how.
type Options struct {
	// Target is the Redis to import into: host:port of its primary.
	Target string
	// Username (may be empty) and Password authenticate to Target (and
	// nothing else). RESTORE needs a user with the dangerous commands:
	// haredis's admin user.
	Username string
	Password string
	// TLS, when set, is the client config of the connection to Target (a
	// RedisFailover with spec.tls).
	TLS *tls.Config
	// Replace overwrites keys that exist in the target; without it they
	// are kept and counted as skipped.
	Replace bool
	// WorkDir holds the file and the private server's socket while the
	// import runs (default a new directory under os.TempDir()).
	WorkDir string
	// Server is the redis-server or valkey-server to load the file with
	// (default the one in PATH, Valkey first, as the pod's image has it).
	Server string
	// Batch is how many keys go in one round trip (default 200).
	Batch int
	// Progress, when set, is called after every batch.
	Progress func(Report)
}

// Report says what an import did.
type Report struct {
	// Format is the RDB file's format version, Writer the server that
	// wrote it (as its header says).
	Format int    `json:"format"`
	Writer string `json:"writer,omitempty"`
	// Bytes is the file's size.
	Bytes int64 `json:"bytes"`
	// Keys is how many keys the file holds; Imported, Skipped (existed in
	// the target, without Replace), Expired (their TTL ran out before they
	// were copied) and Refused (the target refused them) add up to it.
	Keys     int64 `json:"keys"`
	Imported int64 `json:"imported"`
	Skipped  int64 `json:"skipped"`
	Expired  int64 `json:"expired"`
	Refused  int64 `json:"refused"`
	// Refusals are the first refusals, with the target's error.
	Refusals []Refusal `json:"refusals,omitempty"`
	// Databases are the database numbers the file has keys in.
	Databases []int `json:"databases,omitempty"`
	// Seconds is how long the import took.
	Seconds float64 `json:"seconds"`
}

// Refusal is one key the target refused.
type Refusal struct {
	DB    int    `json:"db"`
	Key   string `json:"key"`
	Error string `json:"error"`
}

const maxRefusals = 20

// Import reads an RDB file from r and copies its keys into o.Target. The
// file is checked as it is written to disk (an RDB header, a complete file
// with a matching checksum) and refused whole if it fails: nothing is
// imported from a cut or corrupted file.
func Import(ctx context.Context, r io.Reader, o Options) (*Report, error) {
	start := time.Now()
	if o.Batch <= 0 {
		o.Batch = 200
	}
	dir := o.WorkDir
	if dir == "" {
		d, err := os.MkdirTemp("", "rdbimport-")
		if err != nil {
			return nil, fmt.Errorf("cannot make a work directory: %w", err)
		}
		defer os.RemoveAll(d)
		dir = d
	}
	rep := &Report{}
	if err := receive(r, filepath.Join(dir, "dump.rdb"), rep); err != nil {
		return rep, err
	}
	defer os.Remove(filepath.Join(dir, "dump.rdb"))

	target := redis.NewClient(&redis.Options{Addr: o.Target, Username: o.Username, Password: o.Password, TLSConfig: o.TLS, DialTimeout: 5 * time.Second,
		ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, MaxRetries: -1, PoolSize: 2, Protocol: 2, DisableIdentity: true})
	defer target.Close()
	if err := target.Ping(ctx).Err(); err != nil {
		return rep, fmt.Errorf("cannot reach the target %s: %w", o.Target, err)
	}
	if role, err := target.Do(ctx, "ROLE").Slice(); err != nil || len(role) == 0 || role[0] != "master" {
		return rep, fmt.Errorf("the target %s is not a primary (ROLE %v, %v): import through the primary so that the replicas follow", o.Target, role, err)
	}

	src, stop, err := loadFile(ctx, dir, o.Server)
	if err != nil {
		return rep, err
	}
	defer stop()
	dbs, err := keyspace(ctx, src)
	if err != nil {
		return rep, err
	}
	for db, n := range dbs {
		rep.Databases = append(rep.Databases, db)
		rep.Keys += n
	}
	sort.Ints(rep.Databases)
	for _, db := range rep.Databases {
		if err := copyDB(ctx, src, target, db, o, rep); err != nil {
			rep.Seconds = time.Since(start).Seconds()
			return rep, err
		}
	}
	rep.Seconds = time.Since(start).Seconds()
	return rep, nil
}

// receive writes the file, checked, to path.
func receive(r io.Reader, path string, rep *Report) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("cannot create %s: %w", path, err)
	}
	chk := rdbstream.NewChecker(r)
	n, err := io.Copy(f, chk)
	rep.Bytes = n
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		var notRDB *rdbstream.NotRDBError
		switch {
		case errors.As(err, &notRDB):
			return fmt.Errorf("the file is not an RDB file: %w", err)
		case errors.Is(err, io.ErrUnexpectedEOF):
			return fmt.Errorf("the RDB file ends early after %d bytes (cut off?): %w", n, err)
		}
		return fmt.Errorf("cannot receive the RDB file: %w", err)
	}
	h := chk.Header()
	rep.Format = h.RDBVersion
	switch {
	case h.ValkeyVer != "":
		rep.Writer = "valkey " + h.ValkeyVer
	case h.RedisVer != "":
		rep.Writer = "redis " + h.RedisVer
	}
	return nil
}

// loadFile starts a private server on dir/dump.rdb, listening on a Unix
// socket only, and waits until it has loaded the file.
func loadFile(ctx context.Context, dir, server string) (*redis.Client, func(), error) {
	if server == "" {
		e, err := engine.Installed(exec.LookPath)
		if err != nil {
			return nil, nil, err
		}
		server = engine.BinariesOf(e).Server
	}
	sock := filepath.Join(dir, "s.sock")
	logPath := filepath.Join(dir, "server.log")
	cmd := exec.Command(server, "--port", "0", "--unixsocket", sock, "--unixsocketperm", "700",
		"--dir", dir, "--dbfilename", "dump.rdb", "--appendonly", "no", "--save", "",
		"--logfile", logPath, "--daemonize", "no", "--protected-mode", "yes")
	if err := supervise.StartTied(cmd); err != nil {
		return nil, nil, fmt.Errorf("cannot start %s to read the file: %w", server, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
		os.Remove(logPath)
	}
	c := redis.NewClient(&redis.Options{Network: "unix", Addr: sock, Protocol: 2, DisableIdentity: true, MaxRetries: -1,
		ReadTimeout: 30 * time.Second, PoolSize: 2})
	for {
		select {
		case err := <-exited:
			exited <- err
			c.Close()
			stop()
			return nil, nil, fmt.Errorf("%s cannot load the file: %s", server, loadError(logPath))
		case <-ctx.Done():
			c.Close()
			stop()
			return nil, nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		info, err := c.Info(ctx, "persistence").Result()
		if err == nil && strings.Contains(info, "loading:0") {
			return c, func() { c.Close(); stop() }, nil
		}
	}
}

// loadError is the server's own words on why it could not load the file
// (the last warning lines of its log).
func loadError(logPath string) string {
	f, err := os.Open(logPath)
	if err != nil {
		return "it exited without a log"
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := sc.Text(); strings.Contains(l, " # ") {
			lines = append(lines, l[strings.Index(l, " # ")+3:])
		}
	}
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	if len(lines) == 0 {
		return "it exited (no warning in its log)"
	}
	return strings.Join(lines, "; ")
}

// keyspace reads the key count of each database from INFO keyspace.
func keyspace(ctx context.Context, c *redis.Client) (map[int]int64, error) {
	info, err := c.Info(ctx, "keyspace").Result()
	if err != nil {
		return nil, fmt.Errorf("cannot read the file's keyspace: %w", err)
	}
	out := map[int]int64{}
	for _, line := range strings.Split(info, "\n") {
		line = strings.TrimSpace(line)
		rest, ok := strings.CutPrefix(line, "db")
		if !ok {
			continue
		}
		num, fields, ok := strings.Cut(rest, ":")
		db, err := strconv.Atoi(num)
		if !ok || err != nil {
			continue
		}
		for _, f := range strings.Split(fields, ",") {
			if v, ok := strings.CutPrefix(f, "keys="); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				out[db] = n
			}
		}
	}
	return out, nil
}

// copyDB copies database db of src into the same database of target, a
// batch of keys per round trip on each side.
func copyDB(ctx context.Context, src, target *redis.Client, db int, o Options, rep *Report) error {
	from, to := src.Conn(), target.Conn()
	defer from.Close()
	defer to.Close()
	if err := from.Select(ctx, db).Err(); err != nil {
		return fmt.Errorf("cannot select database %d of the file: %w", db, err)
	}
	if err := to.Select(ctx, db).Err(); err != nil {
		return fmt.Errorf("cannot select database %d of the target (does it have %d databases?): %w", db, db+1, err)
	}
	var cursor uint64
	for {
		keys, next, err := from.Scan(ctx, cursor, "*", int64(o.Batch)).Result()
		if err != nil {
			return fmt.Errorf("cannot scan database %d of the file: %w", db, err)
		}
		if err := copyKeys(ctx, from, to, db, keys, o.Replace, rep); err != nil {
			return err
		}
		if o.Progress != nil {
			o.Progress(*rep)
		}
		if cursor = next; cursor == 0 {
			return nil
		}
	}
}

func copyKeys(ctx context.Context, from, to *redis.Conn, db int, keys []string, replace bool, rep *Report) error {
	if len(keys) == 0 {
		return nil
	}
	dumps := make([]*redis.StringCmd, len(keys))
	ttls := make([]*redis.DurationCmd, len(keys))
	if _, err := from.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			dumps[i] = p.Dump(ctx, k)
			ttls[i] = p.PTTL(ctx, k)
		}
		return nil
	}); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("cannot read keys of database %d of the file: %w", db, err)
	}
	restores := make([]*redis.StatusCmd, len(keys))
	if _, err := to.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			payload, err := dumps[i].Result()
			ttl := ttls[i].Val()
			if err != nil || ttl == -2 {
				continue // expired in the meantime
			}
			if ttl < 0 {
				ttl = 0
			}
			if replace {
				restores[i] = p.RestoreReplace(ctx, k, ttl, payload)
			} else {
				restores[i] = p.Restore(ctx, k, ttl, payload)
			}
		}
		return nil
	}); err != nil && !isReply(err) {
		return fmt.Errorf("cannot write keys of database %d to the target: %w", db, err)
	}
	for i, r := range restores {
		if r == nil {
			rep.Expired++
			continue
		}
		err := r.Err()
		switch {
		case err == nil:
			rep.Imported++
		case strings.HasPrefix(err.Error(), "BUSYKEY"):
			rep.Skipped++
		case !isReply(err):
			return fmt.Errorf("cannot write keys of database %d to the target: %w", db, err)
		default:
			rep.Refused++
			if len(rep.Refusals) < maxRefusals {
				rep.Refusals = append(rep.Refusals, Refusal{DB: db, Key: keys[i], Error: err.Error()})
			}
		}
	}
	return nil
}

// isReply tells a server's error reply from a failure to talk to it.
func isReply(err error) bool {
	var re redis.Error
	return errors.As(err, &re)
}
