package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/haredis/haredis/test/operatorbed"
)

// namespace holds every RedisFailover of the bench.
const namespace = "bench-scale"

// bench is one run: the bed, the RedisFailovers' names and the probes on
// the operator and on the RedisFailovers' status.
type bench struct {
	env   *operatorbed.Env
	cfg   config
	log   *slog.Logger
	names []string
	op    *operator
	watch *statusWatch
	stop  context.CancelFunc
}

// results are the figures of one run.
type results struct {
	allReady time.Duration
	// image is the instances' image (the API's default).
	image      string
	wall       time.Duration
	usage      usage
	whole      histogram
	phases     []phaseLatency
	restWrites statusWrites
	loadWrites statusWrites
	// rest and loadSpan are the two windows in which status writes count.
	rest, loadSpan window
	// restHints and loadHints count the Sentinel hints the operator logged
	// in the two windows (-1: unknown).
	restHints, loadHints int
	load                 loadReport
	rolling              time.Duration
	move                 labelMove
	recovered            time.Duration
}

// phaseLatency is the reconcile latency of one phase of the run.
type phaseLatency struct {
	name string
	h    histogram
}

func newBench(ctx context.Context, env *operatorbed.Env, cfg config, log *slog.Logger) (*bench, error) {
	if out, err := env.Kubectl(ctx, "create", "namespace", namespace); err != nil {
		return nil, fmt.Errorf("cannot create namespace %s: %w\n%s", namespace, err, out)
	}
	op, err := findOperator(ctx, env)
	if err != nil {
		return nil, err
	}
	wc, err := client.NewWithWatch(env.Bed.Config, client.Options{Scheme: env.Client.Scheme()})
	if err != nil {
		return nil, fmt.Errorf("cannot create a watching client: %w", err)
	}
	wctx, stop := context.WithCancel(ctx)
	b := &bench{env: env, cfg: cfg, log: log, names: rfNames(cfg.rfs), op: op, stop: stop,
		watch: startStatusWatch(wctx, wc, namespace, log)}
	log.Info("operator found", "pod", op.pod, "pid", op.pid, "metrics", op.metricsURL)
	return b, nil
}

func (b *bench) close() { b.stop() }

// phase is one step of the run.
type phase struct {
	name string
	fn   func(context.Context, *results) error
}

// measure runs the phases in order, scraping the operator's reconcile
// histogram at each boundary, and sums up.
func (b *bench) measure(ctx context.Context) (*results, error) {
	res := &results{}
	start, err := b.op.reconcileHistogram(ctx)
	if err != nil {
		return nil, err
	}
	u0, err := b.op.usage()
	if err != nil {
		return nil, err
	}
	began := time.Now()
	prev := start
	for _, p := range []phase{
		{"creation", b.createAndWaitReady},
		{"rest", b.countAtRest},
		{"load", b.countUnderLoad},
		{"rolling update and kill", b.rollAndKill},
	} {
		b.log.Info("phase", "name", p.name)
		if err := p.fn(ctx, res); err != nil {
			return nil, fmt.Errorf("%s: %w", p.name, err)
		}
		h, err := b.op.reconcileHistogram(ctx)
		if err != nil {
			return nil, err
		}
		res.phases = append(res.phases, phaseLatency{name: p.name, h: h.sub(prev)})
		prev = h
	}
	res.wall = time.Since(began)
	res.whole = prev.sub(start)
	if res.whole.count() == 0 {
		return nil, fmt.Errorf("the operator's metrics recorded no reconcile of the %s controller", controllerName)
	}
	if res.usage, err = b.usageSince(u0); err != nil {
		return nil, err
	}
	b.addHints(ctx, res)
	return res, nil
}

// usageSince is the operator's peak memory and the CPU it used since u0;
// an error if its process restarted since (its peak and its histograms
// would not cover the run).
func (b *bench) usageSince(u0 usage) (usage, error) {
	u1, err := b.op.usage()
	if err != nil {
		return usage{}, fmt.Errorf("the operator restarted during the run: %w", err)
	}
	if u1.started != u0.started {
		return usage{}, fmt.Errorf("the operator restarted during the run: process %d is another one", b.op.pid)
	}
	return usage{peakRSS: u1.peakRSS, cpu: u1.cpu - u0.cpu}, nil
}

func (b *bench) addHints(ctx context.Context, res *results) {
	res.restHints, res.loadHints = -1, -1
	n, err := b.countHints(ctx, res.rest, res.loadSpan)
	if err != nil {
		b.log.Warn("cannot count the Sentinel hints", "error", err.Error())
		return
	}
	res.restHints, res.loadHints = n[0], n[1]
}
