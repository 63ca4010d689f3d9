package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/haredis/haredis/internal/s3test"
	"github.com/haredis/haredis/test/operatorbed"
)

// DefaultSeeds and DefaultSteps are what `go test ./test/chaos/` runs: the
// CI budget of `make test` (see docs/chaos.md for the time it takes). The
// three seeds were picked among the first 200 so that together they draw
// every kind of step (seed 90: partitions, a double fault, the auth
// Secret, a kill, a scale, a switchover with the operator stopped, every
// pod deleted; 190: a kill, a rolling update with the operator stopped, two
// switchovers, a sentinel kill, a pod deletion, parameters, the
// RedisFailover deleted and created again; 196: persistence, kills, a
// rolling update with and without the operator, durability, a switchover,
// the auth Secret), with the full restarts last.
var DefaultSeeds = []uint64{90, 190, 196}

// DefaultSteps per sequence.
const DefaultSteps = 8

// SeedsFromEnv reads CHAOS_SEED (one seed), CHAOS_SEEDS (that many random
// seeds) and CHAOS_STEPS (steps per sequence); without them, DefaultSeeds
// and DefaultSteps.
func SeedsFromEnv() (seeds []uint64, steps int, err error) {
	steps = DefaultSteps
	if v := strings.TrimSpace(os.Getenv("CHAOS_STEPS")); v != "" {
		if steps, err = strconv.Atoi(v); err != nil || steps < 1 {
			return nil, 0, fmt.Errorf("CHAOS_STEPS=%q: want a number of steps above 0", v)
		}
	}
	if v := strings.TrimSpace(os.Getenv("CHAOS_SEED")); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return nil, 0, fmt.Errorf("CHAOS_SEED=%q: want a seed (a number)", v)
		}
		return []uint64{s}, steps, nil
	}
	if v := strings.TrimSpace(os.Getenv("CHAOS_SEEDS")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, 0, fmt.Errorf("CHAOS_SEEDS=%q: want a number of sequences above 0", v)
		}
		return RandomSeeds(n), steps, nil
	}
	return DefaultSeeds, steps, nil
}

// PlanFromEnv reads the hand-written plan of the JSON file CHAOS_PLAN
// names (the format `go run ./hack/bench/chaos -plan -json` prints), to
// isolate a scenario; nil when CHAOS_PLAN is unset.
func PlanFromEnv() (*Plan, error) {
	f := strings.TrimSpace(os.Getenv("CHAOS_PLAN"))
	if f == "" {
		return nil, nil
	}
	b, err := os.ReadFile(f)
	if err != nil {
		return nil, fmt.Errorf("CHAOS_PLAN: %w", err)
	}
	var p Plan
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("CHAOS_PLAN %s: %w", f, err)
	}
	if p.Replicas == 0 {
		p.Replicas = 3
	}
	if p.Persistence == "" {
		p.Persistence = "AOF"
	}
	return &p, nil
}

// RandomSeeds draws n distinct seeds, short enough to type.
func RandomSeeds(n int) []uint64 {
	seen := map[uint64]bool{}
	var out []uint64
	for len(out) < n {
		s := 1 + rand.Uint64N(999_999)
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// SequenceTimeout bounds a whole sequence of steps: creation and every
// step at the largest bound, with room for the checks.
func SequenceTimeout(steps int) time.Duration {
	return BoundCreate + time.Duration(steps)*(BoundRolling+3*time.Minute) + 5*time.Minute + restoreTimeout
}

// Totals adds up sequences for the summary line.
type Totals struct {
	mu                         sync.Mutex
	Sequences, Steps           int
	LostPlanned, LostUnplanned int
	MaxRecovery                time.Duration
	Stuck, WrongStatus         int
	Failed                     []uint64
}

// Add counts one sequence.
func (t *Totals) Add(r *Result) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.Sequences++
	t.Steps += len(r.Steps)
	t.LostPlanned += r.LostPlanned
	t.LostUnplanned += r.LostUnplanned
	t.MaxRecovery = max(t.MaxRecovery, r.MaxRecovery)
	t.Stuck += r.Stuck
	t.WrongStatus += r.WrongStatus
	if r.Failed() {
		t.Failed = append(t.Failed, r.Plan.Seed)
	}
}

// Line is the benchmark's summary line.
func (t *Totals) Line() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return fmt.Sprintf("bench: chaos sequences=%d steps=%d lost_acked_planned=%d lost_acked_unplanned=%d max_recovery_s=%.1f stuck=%d wrong_status=%d",
		t.Sequences, t.Steps, t.LostPlanned, t.LostUnplanned, t.MaxRecovery.Seconds(), t.Stuck, t.WrongStatus)
}

// QuietRedisLog silences go-redis's own log (dial failures, sentinel
// discoveries), which faults make loud; the writers record every failure.
func QuietRedisLog() { redis.SetLogger(quietLog{}) }

type quietLog struct{}

func (quietLog) Printf(context.Context, string, ...any) {}

// RestoreFromEnv reads CHAOS_RESTORE: which sequences end with the
// "restore and compare" step. "all", "none", or "first" (the default: the
// first sequence of a run, so that make test runs the step once).
func RestoreFromEnv() (string, error) {
	switch v := strings.TrimSpace(os.Getenv("CHAOS_RESTORE")); v {
	case "":
		return "first", nil
	case "all", "none", "first":
		return v, nil
	default:
		return "", fmt.Errorf("CHAOS_RESTORE=%q: want all, first or none", v)
	}
}

// StartRestoreStore starts the S3-compatible store of the "restore and
// compare" step on the host and publishes it to the bed's pods; stop
// stops it.
func StartRestoreStore(ctx context.Context, env *operatorbed.Env) (_ *RestoreStore, stop func(), err error) {
	srv, err := s3test.Start(ctx, s3test.Options{})
	if err != nil {
		return nil, nil, fmt.Errorf("cannot start the S3-compatible store: %w", err)
	}
	defer func() {
		if err != nil {
			_ = srv.Stop()
		}
	}()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "chaos-s3-"}}
	if err := env.Client.Create(ctx, ns); err != nil {
		return nil, nil, fmt.Errorf("cannot create the store's namespace: %w", err)
	}
	addr, err := env.Bed.Publish(ctx, ns.Name, "s3", 9000, strings.TrimPrefix(srv.Endpoint, "http://"))
	if err != nil {
		return nil, nil, fmt.Errorf("cannot publish the store to the pods: %w", err)
	}
	return &RestoreStore{Endpoint: "http://" + addr, Bucket: srv.Bucket, AccessKeyID: srv.AccessKeyID, SecretAccess: srv.SecretAccessKey},
		func() { _ = srv.Stop() }, nil
}
