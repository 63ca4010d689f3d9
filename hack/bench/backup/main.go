// Command backup-bench measures backups to S3 and restores from them,
// with real processes on loopback and no Kubernetes: a primary and a
// replica, each a `haredis instance run` process (built from this tree)
// running redis-server, and SeaweedFS as the S3 store (internal/s3test).
//
//  1. The primary is filled with -size-mib of mixed keys (mostly 1 KiB
//     strings of random bytes, some hashes and lists) and the replica
//     catches up.
//  2. Reference: `redis-cli --rdb FILE` against the replica, to local disk,
//     timed: the speed of a plain snapshot of the same server.
//  3. A write load on the primary (one client, SET of 1 KiB values at
//     -rate per second) runs for -load without a snapshot: its p99. The
//     same load also runs during the reference and the backup.
//  4. The replica's manager takes a backup (POST /backups, which streams an
//     RDB of its server to the store): its speed (object size over the
//     manager's own start and end times), the primary's p99 during it, the
//     peak RSS of the manager process (VmHWM, reset just before) with its
//     RSS sampled every 50 ms, and the CPU the manager and SeaweedFS used.
//     -backups N takes N in a row, to see whether the manager's memory
//     grows with the bytes it streamed.
//  5. The source instances are stopped; a fresh manager whose instance.json
//     asks it to bootstrap from a seed gets the backup's presigned URL
//     (PUT /seed): restore_s is the time from there until its redis-server
//     answers DBSIZE with the backup's key count.
//
// The instances run with persistence None and repl-diskless-sync-delay 0
// (-persistence, -sync-delay), so that no fork of their own competes with
// the measured ones and neither snapshot waits the 1 to 2 s a delay adds.
//
// Run it with `make bench-backup`; a quick try:
//
//	go run ./hack/bench/backup -size-mib 64
//
// It ends with one line
//
//	bench: backup size_mib=… backup_ratio=… stream_rss_mib=… primary_p99_ratio=… restore_s=… backup_mib_s=… rdb_mib_s=… …
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/haredis/haredis/internal/instanceapi"
	"github.com/haredis/haredis/internal/instanceconfig"
	"github.com/haredis/haredis/internal/objectstore"
	"github.com/haredis/haredis/internal/s3test"
)

type config struct {
	sizeMiB     int
	rate        int
	backups     int
	load        time.Duration
	server, cli string
	persistence string
	syncDelay   int
	timeout     time.Duration
}

func main() {
	var cfg config
	flag.IntVar(&cfg.sizeMiB, "size-mib", 1024, "size of the data set in MiB (its values; the RDB is about as large)")
	flag.IntVar(&cfg.rate, "rate", 2000, "writes per second of the load on the primary")
	flag.IntVar(&cfg.backups, "backups", 1, "backups to take in a row under the load (more show whether the manager's memory grows with the bytes it streamed)")
	flag.DurationVar(&cfg.load, "load", 15*time.Second, "how long the load runs without a backup, for the reference p99")
	flag.StringVar(&cfg.server, "redis-server", "/usr/bin/redis-server", "the server binary the managers run")
	flag.StringVar(&cfg.cli, "redis-cli", "redis-cli", "the redis-cli of the reference snapshot (--rdb)")
	flag.StringVar(&cfg.persistence, "persistence", instanceconfig.PersistenceNone,
		"persistence of the instances (None: no snapshot or rewrite of their own forks beside the measured ones)")
	flag.IntVar(&cfg.syncDelay, "sync-delay", 0, "repl-diskless-sync-delay of the instances in seconds (haredis renders 1: Redis then forks for a snapshot only after 1 to 2 s, which both the reference and the backup would wait)")
	flag.DurationVar(&cfg.timeout, "timeout", time.Hour, "bound of the whole run")
	flag.Parse()
	redis.SetLogger(quietRedis{})
	if cfg.sizeMiB < 1 || cfg.rate < 1 || cfg.backups < 1 || cfg.backups > 100 || cfg.load < time.Second {
		fmt.Fprintln(os.Stderr, "bench-backup: -size-mib and -rate must be positive, -backups from 1 to 100, -load at least 1s")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C ends at once; the processes die with this one
	}()
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench-backup:", err)
		os.Exit(1)
	}
}

// results are the figures of a run.
type results struct {
	keys          int64
	usedMemory    string
	engine        string
	refSize       int64
	refTime       time.Duration
	backups       []instanceapi.BackupStatus
	backupTime    time.Duration
	backupBytes   int64
	peaks         []int64
	base, during  []time.Duration
	duringRef     []time.Duration
	refCPU        time.Duration
	managerCPU    time.Duration
	storeCPU      time.Duration
	loadErrors    int
	rssBefore     int64
	rssPeak       int64
	peakFromHWM   bool
	rssSamples    []int64
	restoreTime   time.Duration
	downloadTime  time.Duration
	restoreLoaded int64
}

func run(ctx context.Context, cfg config) error {
	dir, err := os.MkdirTemp("", "haredis-bench-backup-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "haredis")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/haredis")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("cannot build haredis: %w", err)
	}

	store, err := s3test.Start(ctx, s3test.Options{})
	if err != nil {
		return fmt.Errorf("cannot start the S3 store (make setup-seaweedfs builds it): %w", err)
	}
	defer store.Stop()
	storeCfg := instanceapi.Store{Endpoint: store.Endpoint, Bucket: store.Bucket, Prefix: "bench/", Region: s3test.Region,
		AccessKeyID: store.AccessKeyID, SecretAccessKey: store.SecretAccessKey}

	var ports portSet
	src, err := newCluster(bin, dir, "src", cfg.server, cfg.persistence, []string{"src-1", "src-2"}, &ports)
	if err != nil {
		return err
	}
	src.cfg.Config = map[string]string{"repl-diskless-sync-delay": strconv.Itoa(cfg.syncDelay)}
	if err := src.writeConfig(); err != nil {
		return err
	}
	primary, err := src.start("src-1")
	if err != nil {
		return err
	}
	defer primary.stop()
	if _, err := primary.waitStatus(ctx, time.Minute, "src-1 is a ready primary", isReady(instanceapi.RolePrimary)); err != nil {
		return err
	}
	replica, err := src.start("src-2")
	if err != nil {
		return err
	}
	defer replica.stop()
	st, err := replica.waitStatus(ctx, time.Minute, "src-2 is a ready replica", isReady(instanceapi.RoleReplica))
	if err != nil {
		return err
	}
	var r results
	r.engine = st.Engine + " " + st.EngineVersion

	// 1. The data set.
	ds := newDataset(cfg.sizeMiB)
	fmt.Printf("filling the primary with %d MiB (%d keys)...\n", cfg.sizeMiB, ds.units)
	t0 := time.Now()
	if err := ds.write(ctx, primary.redis); err != nil {
		return err
	}
	if err := waitInSync(ctx, primary.redis, replica.redis, 10*time.Minute); err != nil {
		return err
	}
	if r.keys, err = replica.redis.DBSize(ctx).Result(); err != nil {
		return err
	}
	if info, err := replica.redis.Info(ctx, "memory").Result(); err == nil {
		for _, line := range strings.Split(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory_human:"); ok {
				r.usedMemory = v
			}
		}
	}
	fmt.Printf("filled in %.1f s; the replica is in sync with %d keys\n", time.Since(t0).Seconds(), r.keys)

	// 2. Reference: a plain snapshot of the replica to local disk, under
	// the load.
	loadClient := redis.NewClient(&redis.Options{Addr: addr(src.redisPorts["src-1"]), Password: password, Protocol: 2, DisableIdentity: true,
		PoolSize: 1, MaxRetries: -1, DialTimeout: time.Second, ReadTimeout: 5 * time.Second})
	defer loadClient.Close()
	if err := reference(ctx, cfg, ds, loadClient, dir, src.redisPorts["src-2"], &r); err != nil {
		return err
	}
	fmt.Printf("redis-cli --rdb: %.1f MiB in %.2f s\n", float64(r.refSize)/mib, r.refTime.Seconds())

	// 3. The primary's latency without a snapshot.
	base := runLoad(ctx, loadClient, ds, cfg.rate, cfg.load)
	r.base = base.all()
	r.loadErrors += base.errors
	if ctx.Err() != nil {
		return ctx.Err()
	}
	fmt.Printf("load without a backup: %d writes, p99 %s\n", len(r.base), fmtMs(quantile(r.base, 0.99)))

	// 4. The backup, under the same load.
	if err := backup(ctx, cfg, ds, loadClient, replica, storeCfg, &r); err != nil {
		return err
	}
	fmt.Printf("backup: %.1f MiB in %.2f s\n", float64(r.backupBytes)/mib, r.backupTime.Seconds())

	// 5. Restore into a fresh instance, with the source stopped.
	loadClient.Close()
	replica.stop()
	primary.stop()
	if err := restore(ctx, cfg, bin, dir, store, &ports, &r); err != nil {
		return err
	}
	report(cfg, &r)
	return nil
}

func isReady(role string) func(*instanceapi.Status) error {
	return func(s *instanceapi.Status) error {
		if s.Role != role || !s.Ready || (role == instanceapi.RoleReplica && !s.Synced) {
			return fmt.Errorf("role %s, ready %v (%s), phase %s", s.Role, s.Ready, s.ReadyReason, s.Phase)
		}
		return nil
	}
}

// reference times `redis-cli --rdb` of the replica to a file in dir while
// the load runs on the primary.
func reference(ctx context.Context, cfg config, ds dataset, loadClient *redis.Client, dir string, port int, r *results) error {
	lctx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	loadDone := make(chan loadResult, 1)
	go func() { loadDone <- runLoad(lctx, loadClient, ds, cfg.rate, cfg.timeout) }()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(500 * time.Millisecond):
	}
	path := filepath.Join(dir, "reference.rdb")
	defer os.Remove(path)
	cmd := exec.CommandContext(ctx, cfg.cli, "-h", "127.0.0.1", "-p", fmt.Sprint(port), "--rdb", path)
	cmd.Env = append(os.Environ(), "REDISCLI_AUTH="+password)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	end := time.Now()
	stopLoad()
	load := <-loadDone
	if err != nil {
		return fmt.Errorf("redis-cli --rdb: %w\n%s", err, out)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("redis-cli --rdb wrote no file: %w\n%s", err, out)
	}
	r.refSize, r.refTime = fi.Size(), end.Sub(start)
	r.refCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	r.duringRef = load.within(start, end)
	r.loadErrors += load.errors
	return nil
}

// backup takes cfg.backups backups in a row through the replica's
// manager while the load runs on the primary and the manager's memory is
// sampled.
func backup(ctx context.Context, cfg config, ds dataset, loadClient *redis.Client, replica *manager, store instanceapi.Store, r *results) error {
	pid := replica.pid()
	rss, _, err := procMem(pid)
	if err != nil {
		return err
	}
	r.rssBefore = rss
	r.peakFromHWM = resetPeak(pid) == nil
	weed := childNamed("weed")
	cpu := func() (manager, store time.Duration) {
		manager, _ = procCPU(pid)
		if weed != 0 {
			store, _ = procCPU(weed)
		}
		return manager, store
	}

	bctx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	loadDone := make(chan loadResult, 1)
	go func() { loadDone <- runLoad(bctx, loadClient, ds, cfg.rate, cfg.timeout) }()
	samplesDone := make(chan []int64, 1)
	go func() {
		var out []int64
		for bctx.Err() == nil {
			if rss, _, err := procMem(pid); err == nil {
				out = append(out, rss)
			}
			select {
			case <-bctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
		samplesDone <- out
	}()
	// A moment of load before the backup, so that the window is loaded from
	// its start.
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(500 * time.Millisecond):
	}

	for i := range cfg.backups {
		m0, s0 := cpu()
		s, err := takeBackup(ctx, replica, store)
		if err != nil {
			return err
		}
		m1, s1 := cpu()
		r.managerCPU += m1 - m0
		r.storeCPU += s1 - s0
		r.backups = append(r.backups, *s)
		r.backupTime += s.EndTime.Sub(s.StartTime)
		r.backupBytes += s.Size
		_, hwm, err := procMem(pid)
		if err != nil {
			return err
		}
		r.peaks = append(r.peaks, hwm)
		if cfg.backups > 1 {
			fmt.Printf("backup %d of %d: %.1f MiB in %.2f s, manager VmHWM %.1f MiB\n", i+1, cfg.backups,
				float64(s.Size)/mib, s.EndTime.Sub(s.StartTime).Seconds(), float64(hwm)/mib)
		}
	}
	stopLoad()
	during := <-loadDone
	r.rssSamples = <-samplesDone
	for _, s := range r.backups {
		r.during = append(r.during, during.within(s.StartTime, s.EndTime)...)
	}
	r.loadErrors += during.errors
	if during.errors > 0 {
		fmt.Printf("warning: %d writes of the load failed during the backups, the last with %q\n", during.errors, during.last)
	}
	r.rssPeak = r.peaks[len(r.peaks)-1]
	if !r.peakFromHWM {
		// VmHWM could not be reset: it is the peak since the manager
		// started; the samples give the peak of the backups.
		r.rssPeak = 0
		for _, v := range r.rssSamples {
			r.rssPeak = max(r.rssPeak, v)
		}
	}
	return nil
}

// takeBackup asks the manager for a backup and waits for its end.
func takeBackup(ctx context.Context, m *manager, store instanceapi.Store) (*instanceapi.BackupStatus, error) {
	id := fmt.Sprintf("bench-%d", time.Now().UnixNano())
	if _, err := m.api.StartBackup(ctx, instanceapi.BackupRequest{ID: id, Store: store, Key: id + ".rdb"}); err != nil {
		return nil, fmt.Errorf("cannot start the backup: %w", err)
	}
	for {
		s, err := m.api.Backup(ctx, id)
		switch {
		case err == nil && s.Phase == instanceapi.BackupCompleted:
			return s, nil
		case err == nil && s.Phase != instanceapi.BackupRunning:
			return nil, fmt.Errorf("the backup ended %s: %s; the manager's log ends:\n%s", s.Phase, s.Error, tail(m.logPath, 20))
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("the backup did not end: %w (last answer %v)", ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// restore seeds a fresh instance with the backup and waits until its
// server holds every key.
func restore(ctx context.Context, cfg config, bin, dir string, store *s3test.Server, ports *portSet, r *results) error {
	c, err := newCluster(bin, dir, "restore", cfg.server, cfg.persistence, []string{"restore-1"}, ports)
	if err != nil {
		return err
	}
	last := r.backups[len(r.backups)-1]
	c.cfg.Bootstrap = &instanceconfig.Bootstrap{Instance: "restore-1", Source: "bench backup " + last.Key, SHA256: last.SHA256}
	if err := c.writeConfig(); err != nil {
		return err
	}
	m, err := c.start("restore-1")
	if err != nil {
		return err
	}
	defer m.stop()
	if _, err := m.waitStatus(ctx, time.Minute, "restore-1 waits for the seed's URL", func(s *instanceapi.Status) error {
		if s.Bootstrap == nil || !s.Bootstrap.WaitingForURL {
			return fmt.Errorf("bootstrap %+v", s.Bootstrap)
		}
		return nil
	}); err != nil {
		return err
	}
	oc, err := objectstore.New(objectstore.Config{Endpoint: store.Endpoint, Bucket: store.Bucket, Region: s3test.Region,
		Credentials: objectstore.Credentials{AccessKeyID: store.AccessKeyID, SecretAccessKey: store.SecretAccessKey}})
	if err != nil {
		return err
	}
	url, err := oc.PresignGet(ctx, last.Key, time.Hour)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := m.api.PutSeed(ctx, url); err != nil {
		return fmt.Errorf("PUT /seed: %w", err)
	}
	deadline := time.Now().Add(30 * time.Minute)
	for {
		if r.downloadTime == 0 {
			if s, err := m.api.Status(ctx); err == nil && s.Bootstrap != nil {
				switch s.Bootstrap.Phase {
				case instanceapi.BootstrapLoaded:
					r.downloadTime = time.Since(start)
				case instanceapi.BootstrapFailed:
					return fmt.Errorf("the seed was refused: %s", s.Bootstrap.Error)
				}
			}
		}
		n, err := m.redis.DBSize(ctx).Result()
		if err == nil && n == last.Keys {
			r.restoreTime = time.Since(start)
			r.restoreLoaded = n
			return nil
		}
		select {
		case <-m.exited:
			return fmt.Errorf("the restoring manager exited; its log ends:\n%s", tail(m.logPath, 30))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.New("the restored server does not hold the backup's keys after 30 minutes")
		}
	}
}

func report(cfg config, r *results) {
	refRate := float64(r.refSize) / mib / r.refTime.Seconds()
	backupRate := float64(r.backupBytes) / mib / r.backupTime.Seconds()
	last := r.backups[len(r.backups)-1]
	baseP99, duringP99 := quantile(r.base, 0.99), quantile(r.during, 0.99)
	p99Ratio := float64(duringP99) / float64(baseP99)
	growth := r.rssPeak - r.rssBefore
	peakHow := "VmHWM reset just before"
	if !r.peakFromHWM {
		peakHow = "sampled every 50 ms; VmHWM could not be reset"
	}

	fmt.Printf("\nData set: %d MiB asked, %d keys (8 in 10 strings of %d B, 1 hash and 1 list of %d x %d B; random bytes), replica used_memory %s\n",
		cfg.sizeMiB, r.keys, valueSize, fields, elemSize, r.usedMemory)
	fmt.Printf("Server: %s (%s), persistence %s, repl-diskless-sync-delay %d, both instances under `haredis instance run`, SeaweedFS on loopback as the store\n",
		r.engine, cfg.server, cfg.persistence, cfg.syncDelay)
	fmt.Printf("Load on the primary: one client, SET of %d B at %d/s\n\n", valueSize, cfg.rate)
	fmt.Printf("%-44s %-44s %s\n", "", "absolute", "ratio")
	row := func(name, abs, ratio string) { fmt.Printf("%-44s %-44s %s\n", name, abs, ratio) }
	row("snapshot to local disk (redis-cli --rdb)", fmt.Sprintf("%.1f MiB in %.2f s = %.1f MiB/s", float64(r.refSize)/mib, r.refTime.Seconds(), refRate), "1.00")
	row(fmt.Sprintf("backup to S3 (POST /backups, %d in a row)", len(r.backups)),
		fmt.Sprintf("%.1f MiB in %.2f s = %.1f MiB/s", float64(r.backupBytes)/mib, r.backupTime.Seconds(), backupRate),
		fmt.Sprintf("%.2f", backupRate/refRate))
	row("primary write p99 without a backup", fmt.Sprintf("%s (p50 %s, %d writes, %.0f/s)", fmtMs(baseP99), fmtMs(quantile(r.base, 0.5)),
		len(r.base), float64(len(r.base))/cfg.load.Seconds()), "1.00")
	row("primary write p99 during redis-cli --rdb", fmt.Sprintf("%s (p50 %s, %d writes, %.0f/s)", fmtMs(quantile(r.duringRef, 0.99)),
		fmtMs(quantile(r.duringRef, 0.5)), len(r.duringRef), float64(len(r.duringRef))/r.refTime.Seconds()),
		fmt.Sprintf("%.2f", float64(quantile(r.duringRef, 0.99))/float64(baseP99)))
	row("primary write p99 during the backup", fmt.Sprintf("%s (p50 %s, %d writes, %.0f/s)", fmtMs(duringP99), fmtMs(quantile(r.during, 0.5)),
		len(r.during), float64(len(r.during))/r.backupTime.Seconds()), fmt.Sprintf("%.2f", p99Ratio))
	row("manager RSS before the backup", fmt.Sprintf("%.1f MiB", float64(r.rssBefore)/mib), "")
	row("manager peak RSS during the backup", fmt.Sprintf("%.1f MiB (%s)", float64(r.rssPeak)/mib, peakHow), "")
	if len(r.peaks) > 1 {
		var ps []string
		for _, p := range r.peaks {
			ps = append(ps, fmt.Sprintf("%.1f", float64(p)/mib))
		}
		row("  VmHWM after each backup (MiB)", strings.Join(ps, " "), "")
	}
	row("manager RSS growth (peak - before)", fmt.Sprintf("%.1f MiB", float64(growth)/mib), "")
	row("  RSS sampled through the backup (MiB)", rssTimeline(r.rssSamples), "")
	row("CPU of redis-cli --rdb", fmt.Sprintf("%.2f s (%.1f s per GiB)", r.refCPU.Seconds(), perGiB(r.refCPU, r.refSize)), "")
	row("CPU of the manager during the backups", fmt.Sprintf("%.2f s (%.1f s per GiB)", r.managerCPU.Seconds(), perGiB(r.managerCPU, r.backupBytes)), "")
	row("CPU of SeaweedFS during the backups", fmt.Sprintf("%.2f s (%.1f s per GiB)", r.storeCPU.Seconds(), perGiB(r.storeCPU, r.backupBytes)), "")
	row("restore (PUT /seed until DBSIZE matches)", fmt.Sprintf("%.2f s = %.1f MiB/s, %d keys", r.restoreTime.Seconds(),
		float64(last.Size)/mib/r.restoreTime.Seconds(), r.restoreLoaded), "")
	row("  of which download and check", fmt.Sprintf("%.2f s", r.downloadTime.Seconds()), "")
	if r.loadErrors > 0 {
		fmt.Printf("%d writes of the load failed\n", r.loadErrors)
	}
	fmt.Println()
	fmt.Printf("bench: backup size_mib=%d backup_ratio=%.2f stream_rss_mib=%.1f primary_p99_ratio=%.2f restore_s=%.2f"+
		" backup_mib_s=%.1f rdb_mib_s=%.1f primary_p99_ms=%.3f primary_p99_backup_ms=%.3f stream_rss_growth_mib=%.1f object_mib=%.1f backups=%d manager_cpu_s_per_gib=%.1f\n",
		cfg.sizeMiB, backupRate/refRate, float64(r.rssPeak)/mib, p99Ratio, r.restoreTime.Seconds(),
		backupRate, refRate, ms(baseP99), ms(duringP99), float64(growth)/mib, float64(last.Size)/mib, len(r.backups), perGiB(r.managerCPU, r.backupBytes))
}

// rssTimeline is about ten samples spread over the backup.
func rssTimeline(s []int64) string {
	if len(s) == 0 {
		return "none"
	}
	var parts []string
	step := max(1, len(s)/10)
	for i := 0; i < len(s); i += step {
		parts = append(parts, fmt.Sprintf("%.0f", float64(s[i])/mib))
	}
	if (len(s)-1)%step != 0 {
		parts = append(parts, fmt.Sprintf("%.0f", float64(s[len(s)-1])/mib))
	}
	return strings.Join(parts, " ")
}

func perGiB(d time.Duration, bytes int64) float64 { return d.Seconds() / (float64(bytes) / (1 << 30)) }

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func fmtMs(d time.Duration) string { return fmt.Sprintf("%.3f ms", ms(d)) }

// quietRedis drops go-redis's own log lines (reconnects while a server
// starts).
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}
