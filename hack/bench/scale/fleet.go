package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	haredisv1 "github.com/haredis/haredis/api/v1"
	"github.com/haredis/haredis/internal/specs"
	"github.com/haredis/haredis/internal/writeload"
)

// The shape of every RedisFailover: a primary and one replica, three
// sentinels, no proxy, small volumes (the bed's volumes are tmpfs).
const (
	instances   = 2
	sentinels   = 3
	storageSize = "64Mi"
)

func rfNames(n int) []string {
	width := len(strconv.Itoa(n))
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("rf-%0*d", width, i+1)
	}
	return out
}

func newRedisFailover(name string) *haredisv1.RedisFailover {
	size := resource.MustParse(storageSize)
	rf := &haredisv1.RedisFailover{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	rf.Spec.Redis.Replicas = instances
	rf.Spec.Redis.Storage.Size = &size
	rf.Spec.Sentinel.Replicas = sentinels
	rf.Spec.Proxy.Enabled = ptr.To(false)
	return rf
}

func isReady(rf *haredisv1.RedisFailover) bool {
	return meta.IsStatusConditionTrue(rf.Status.Conditions, haredisv1.ConditionReady)
}

// createAndWaitReady creates every RedisFailover at once and waits until
// all of them are Ready at the same time.
func (b *bench) createAndWaitReady(ctx context.Context, res *results) error {
	start := time.Now()
	if err := b.createAll(ctx); err != nil {
		return err
	}
	b.log.Info("created", "redisfailovers", len(b.names), "seconds", time.Since(start).Seconds())
	wctx, cancel := context.WithTimeout(ctx, b.cfg.readyTimeout)
	defer cancel()
	go b.logProgress(wctx, func(rfs map[string]*haredisv1.RedisFailover) {
		b.log.Info("waiting", "ready", b.countReady(rfs), "of", len(b.names), "not_ready_reasons", b.notReadyReasons(rfs))
	})
	at, err := b.watch.waitFor(wctx, "every RedisFailover Ready", func(rfs map[string]*haredisv1.RedisFailover) error {
		if n := b.countReady(rfs); n < len(b.names) {
			return fmt.Errorf("%d of %d Ready; the others' reasons: %s", n, len(b.names), b.notReadyReasons(rfs))
		}
		return nil
	})
	if err != nil {
		return err
	}
	res.allReady = at.Sub(start)
	b.watch.inspect(func(rfs map[string]*haredisv1.RedisFailover) { res.image = rfs[b.names[0]].Spec.Redis.Image })
	b.log.Info("all Ready", "seconds", res.allReady.Seconds())
	return nil
}

func (b *bench) countReady(rfs map[string]*haredisv1.RedisFailover) int {
	n := 0
	for _, name := range b.names {
		if rf := rfs[name]; rf != nil && isReady(rf) {
			n++
		}
	}
	return n
}

// notReadyReasons counts the RedisFailovers that are not Ready by the
// reason of their Ready condition, as "Reason N, Reason N".
func (b *bench) notReadyReasons(rfs map[string]*haredisv1.RedisFailover) string {
	count := map[string]int{}
	for _, name := range b.names {
		rf := rfs[name]
		switch c := readyCondition(rf); {
		case rf == nil:
			count["NotSeen"]++
		case c == nil:
			count["NoCondition"]++
		case c.Status != metav1.ConditionTrue:
			count[c.Reason]++
		}
	}
	reasons := make([]string, 0, len(count))
	for r := range count {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	parts := make([]string, len(reasons))
	for i, r := range reasons {
		parts[i] = fmt.Sprintf("%s %d", r, count[r])
	}
	return strings.Join(parts, ", ")
}

func readyCondition(rf *haredisv1.RedisFailover) *metav1.Condition {
	if rf == nil {
		return nil
	}
	return meta.FindStatusCondition(rf.Status.Conditions, haredisv1.ConditionReady)
}

// logProgress logs what fn says of the RedisFailovers every progressPeriod
// until ctx ends.
func (b *bench) logProgress(ctx context.Context, fn func(map[string]*haredisv1.RedisFailover)) {
	t := time.NewTicker(progressPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			b.watch.inspect(fn)
		}
	}
}

const progressPeriod = 30 * time.Second

func (b *bench) createAll(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, len(b.names))
	for i, n := range b.names {
		wg.Go(func() {
			if err := b.env.Client.Create(ctx, newRedisFailover(n)); err != nil {
				errs[i] = fmt.Errorf("cannot create RedisFailover %s: %w", n, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// countAtRest counts status writes while nothing happens.
func (b *bench) countAtRest(ctx context.Context, res *results) error {
	start := time.Now()
	if err := pause(ctx, b.cfg.rest); err != nil {
		return err
	}
	res.rest = window{start, time.Now()}
	res.restWrites = b.watch.writesBetween(res.rest.from, res.rest.to)
	b.log.Info("at rest", "status_writes", res.restWrites.total, "seconds", b.cfg.rest.Seconds())
	return nil
}

// pause lasts a measuring window; it ends early only when ctx does.
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// loadReport sums up the writers of the load window.
type loadReport struct {
	writers  int
	acked    int
	failed   int
	interval time.Duration
}

// countUnderLoad runs one bounded writer per RedisFailover through its
// NAME-primary Service and counts status writes meanwhile.
func (b *bench) countUnderLoad(ctx context.Context, res *results) error {
	clients, err := b.primaryClients(ctx)
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	if err != nil {
		return err
	}
	loads := make([]*writeload.Load, len(clients))
	for i, c := range clients {
		loads[i] = writeload.Start(ctx, c, writeload.Options{Prefix: "scale", Interval: b.cfg.writeInterval, MaxDuration: b.cfg.load + 2*time.Minute})
	}
	stopAll := func() {
		for _, l := range loads {
			l.Stop()
		}
	}
	defer stopAll()
	if err := waitFirstWrites(ctx, loads); err != nil {
		return err
	}
	start := time.Now()
	if err := pause(ctx, b.cfg.load); err != nil {
		return err
	}
	end := time.Now()
	for _, l := range loads {
		res.load.acked += l.AckedSince(start)
		res.load.failed += len(l.FailuresSince(start))
	}
	res.load.writers, res.load.interval = len(loads), b.cfg.writeInterval
	res.loadSpan = window{start, end}
	res.loadWrites = b.watch.writesBetween(start, end)
	b.log.Info("under load", "status_writes", res.loadWrites.total, "acked_writes", res.load.acked, "failed_writes", res.load.failed)
	return nil
}

// waitFirstWrites waits until every writer has had a write acknowledged.
func waitFirstWrites(ctx context.Context, loads []*writeload.Load) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for i, l := range loads {
		if err := l.WaitAcked(ctx, 1); err != nil {
			return fmt.Errorf("writer %d of %d: %w", i+1, len(loads), err)
		}
	}
	return nil
}

// primaryClients opens one client per RedisFailover on its NAME-primary
// Service, with the password of its Secret NAME-auth.
func (b *bench) primaryClients(ctx context.Context) ([]*redis.Client, error) {
	var out []*redis.Client
	for _, n := range b.names {
		rf := &haredisv1.RedisFailover{}
		if err := b.env.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: n}, rf); err != nil {
			return out, fmt.Errorf("cannot read RedisFailover %s: %w", n, err)
		}
		s := &corev1.Secret{}
		if err := b.env.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: rf.AuthSecretName()}, s); err != nil {
			return out, fmt.Errorf("cannot read the password of %s: %w", n, err)
		}
		out = append(out, redis.NewClient(&redis.Options{
			Addr: rf.Status.Endpoints.Primary, Password: string(s.Data[specs.PasswordKey]), Dialer: b.env.Dial,
			DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second, PoolSize: 2,
		}))
	}
	return out, nil
}
