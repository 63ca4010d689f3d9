// Command scale-bench measures the operator with many RedisFailovers on the
// test bed. It creates -rfs RedisFailovers at once (2 instances, 3
// sentinels, no proxy, small volumes) and reports:
//
//   - all_ready_s: the time from their creation until every one has its
//     Ready condition True;
//   - the operator's peak RSS (VmHWM of /proc/PID/status) and the CPU it used
//     (utime+stime of /proc/PID/stat) over the run, against the wall time;
//   - the redisfailover controller's reconcile latency p50 and p99 over the
//     run, interpolated from the buckets of controller-runtime's
//     controller_runtime_reconcile_time_seconds histogram, which the
//     operator's metrics endpoint serves;
//   - status writes per minute: changes of a RedisFailover's status seen by a
//     watch, over a window at rest and over a window under a bounded write
//     load on every RedisFailover through its NAME-primary Service;
//   - label_move_under_load_ms: while a rolling update runs on ten of them,
//     the time from a SIGKILL of another one's primary server process
//     (valkey-server or redis-server, as its image has) until the pod
//     labelled haredis.dev/role=primary is the new primary and the
//     NAME-primary Service's EndpointSlices point at it.
//
// The operator runs as users install it (config/, one replica): its own pod,
// which on the bed is a host process, so /proc measures the operator alone,
// not the bed or this program.
//
// Run it with `make bench-scale` (root: the bed needs it). A quick try with
// three RedisFailovers and short windows:
//
//	go run ./hack/bench/scale -rfs 3 -rest 15s -load 15s
//
// It ends with one line
//
//	bench: scale rfs=… all_ready_s=… operator_rss_mib=… reconcile_p99_ms=… status_writes_per_min=… label_move_under_load_ms=… …
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/redis/go-redis/v9"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/haredis/haredis/test/operatorbed"
)

// config is what the flags set.
type config struct {
	rfs           int
	rolling       int
	rest, load    time.Duration
	writeInterval time.Duration
	readyTimeout  time.Duration
	// keepLogs, when set, is a directory where the run leaves the
	// operator's log and the logs of the killed RedisFailover's pods.
	keepLogs string
}

func main() {
	var cfg config
	flag.IntVar(&cfg.rfs, "rfs", 50, "RedisFailovers to create (at least 2)")
	flag.IntVar(&cfg.rolling, "rolling", 10, "RedisFailovers to roll while another one's primary is killed (at most rfs-1)")
	flag.DurationVar(&cfg.rest, "rest", 60*time.Second, "window at rest in which status writes are counted")
	flag.DurationVar(&cfg.load, "load", 60*time.Second, "window under write load in which status writes are counted")
	flag.DurationVar(&cfg.writeInterval, "write-interval", 250*time.Millisecond, "pause between two writes of each RedisFailover's writer during the load window")
	flag.DurationVar(&cfg.readyTimeout, "ready-timeout", 30*time.Minute, "how long the RedisFailovers may take to be Ready")
	flag.StringVar(&cfg.keepLogs, "keep-logs", "", "directory to leave the operator's log and the logs of the killed RedisFailover's pods in (none when empty)")
	flag.Parse()
	ctrllog.SetLogger(logr.Discard())
	redis.SetLogger(quietRedis{})
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C ends at once; the bed's processes die with this one
	}()
	if err := run(ctx, cfg, log); err != nil {
		fmt.Fprintln(os.Stderr, "bench-scale:", err)
		os.Exit(1)
	}
}

func (c *config) check() error {
	if c.rfs < 2 {
		return errors.New("-rfs must be at least 2: one to kill, at least one to roll")
	}
	c.rolling = max(1, min(c.rolling, c.rfs-1))
	if c.rest <= 0 || c.load <= 0 || c.writeInterval <= 0 || c.readyTimeout <= 0 {
		return errors.New("-rest, -load, -write-interval and -ready-timeout must be positive")
	}
	return nil
}

// run runs the bench; ctx ends on Ctrl-C.
func run(ctx context.Context, cfg config, log *slog.Logger) error {
	if err := cfg.check(); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return errors.New("the test bed needs root")
	}
	interrupted := ctx
	ctx, cancel := context.WithTimeout(ctx, cfg.readyTimeout+cfg.rest+cfg.load+40*time.Minute)
	defer cancel()
	log.Info("starting the bed with the operator")
	env, err := operatorbed.Start(ctx, logr.FromSlogHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return fmt.Errorf("cannot start the bed with the operator: %w", err)
	}
	defer stopBed(env, log)
	b, err := newBench(ctx, env, cfg, log)
	if err != nil {
		return err
	}
	defer b.close()
	res, err := b.measure(ctx)
	if cfg.keepLogs != "" && interrupted.Err() == nil {
		if kerr := b.keepLogs(ctx, cfg.keepLogs); kerr != nil {
			log.Warn("cannot keep the logs", "error", kerr.Error())
		}
	}
	if err != nil {
		if interrupted.Err() == nil {
			printOperatorLog(env)
		}
		return err
	}
	printResults(cfg, res)
	return nil
}

// stopBed removes the bed and says what, if anything, it left on the host.
func stopBed(env *operatorbed.Env, log *slog.Logger) {
	if err := env.Stop(); err != nil {
		log.Warn("the bed did not stop cleanly", "error", err.Error())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if left := env.Bed.Leftovers(ctx); len(left) > 0 {
		log.Warn("the bed left things on the host", "leftovers", left)
	}
}

func printOperatorLog(env *operatorbed.Env) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	fmt.Println("the operator's last log lines:")
	fmt.Println(env.OperatorLog(ctx, 100))
}

// quietRedis drops go-redis's own log lines (pool and reconnection
// chatter); the bench reports failed writes itself.
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}
