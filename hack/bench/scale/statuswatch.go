package main

import (
	"context"
	"fmt"
	"k8s.io/apimachinery/pkg/api/meta"
	"log/slog"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	haredisv1 "github.com/haredis/haredis/api/v1"
)

// statusWatch watches the RedisFailovers of a namespace: it keeps the
// latest of each, and records every MODIFIED event whose status differs
// from the one before (a status write of the operator; the bench itself
// writes only specs).
type statusWatch struct {
	log *slog.Logger

	mu      sync.Mutex
	current map[string]*haredisv1.RedisFailover
	changes []statusChange
	// changed is closed and replaced at every event.
	changed chan struct{}
}

type statusChange struct {
	at time.Time
	// offsetsOnly: nothing but the instances' replication offsets and lags
	// changed.
	offsetsOnly bool
	// fields are the status fields that changed (changedFields).
	fields []string
}

// statusWrites counts the status writes of a window.
type statusWrites struct {
	total, offsetsOnly int
	window             time.Duration
	// byField counts the writes that changed each field.
	byField map[string]int
}

func (s statusWrites) perMinute() float64 { return float64(s.total) / s.window.Minutes() }

func startStatusWatch(ctx context.Context, c client.WithWatch, ns string, log *slog.Logger) *statusWatch {
	w := &statusWatch{log: log, current: map[string]*haredisv1.RedisFailover{}, changed: make(chan struct{})}
	go w.run(ctx, c, ns)
	return w
}

// run follows the watch until ctx ends, watching again from the last
// resource version when the API server ends it, and from scratch when that
// version is too old.
func (w *statusWatch) run(ctx context.Context, c client.WithWatch, ns string) {
	rv := ""
	for ctx.Err() == nil {
		next, err := w.follow(ctx, c, ns, rv)
		switch {
		case ctx.Err() != nil:
			return
		case apierrors.IsResourceExpired(err) || apierrors.IsGone(err):
			w.log.Warn("status watch expired; watching again from the current state (changes in between are not counted)")
			rv = ""
		case err != nil:
			w.log.Warn("status watch failed; watching again", "error", err.Error())
			if pause(ctx, 200*time.Millisecond) != nil {
				return
			}
		default:
			rv = next
		}
	}
}

// follow reads one watch until it ends; it returns the last resource
// version seen.
func (w *statusWatch) follow(ctx context.Context, c client.WithWatch, ns, rv string) (string, error) {
	wi, err := c.Watch(ctx, &haredisv1.RedisFailoverList{}, client.InNamespace(ns),
		&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true}})
	if err != nil {
		return rv, fmt.Errorf("cannot watch RedisFailovers: %w", err)
	}
	defer wi.Stop()
	for ev := range wi.ResultChan() {
		if ev.Type == watch.Error {
			return rv, apierrors.FromObject(ev.Object)
		}
		rf, ok := ev.Object.(*haredisv1.RedisFailover)
		if !ok {
			continue
		}
		rv = rf.ResourceVersion
		if ev.Type != watch.Bookmark {
			w.apply(ev.Type, rf)
		}
	}
	return rv, nil
}

func (w *statusWatch) apply(t watch.EventType, rf *haredisv1.RedisFailover) {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	prev := w.current[rf.Name]
	switch t {
	case watch.Deleted:
		delete(w.current, rf.Name)
	case watch.Modified:
		if prev != nil && !equality.Semantic.DeepEqual(prev.Status, rf.Status) {
			fields := changedFields(prev.Status, rf.Status)
			// Which way Ready went, so that a flapping condition says why.
			if a, b := readyReason(prev.Status), readyReason(rf.Status); a != b {
				fields = append(fields, "Ready "+a+"→"+b)
			}
			w.changes = append(w.changes, statusChange{at: now, offsetsOnly: offsetsOnly(prev.Status, rf.Status), fields: fields})
		}
		w.current[rf.Name] = rf
	default:
		w.current[rf.Name] = rf
	}
	close(w.changed)
	w.changed = make(chan struct{})
}

// offsetsOnly tells whether a and b differ in nothing but the instances'
// replication offsets and lags.
func offsetsOnly(a, b haredisv1.RedisFailoverStatus) bool {
	withoutOffsets := func(s haredisv1.RedisFailoverStatus) *haredisv1.RedisFailoverStatus {
		c := s.DeepCopy()
		for i := range c.Instances {
			c.Instances[i].ReplicationOffset, c.Instances[i].LagBytes = 0, 0
		}
		return c
	}
	return equality.Semantic.DeepEqual(withoutOffsets(a), withoutOffsets(b))
}

// waitFor returns when cond, given the latest RedisFailovers by name,
// returns nil; the time is when the event that made it true arrived. cond
// runs under the watch's lock and must not keep the map.
func (w *statusWatch) waitFor(ctx context.Context, what string, cond func(map[string]*haredisv1.RedisFailover) error) (time.Time, error) {
	for {
		w.mu.Lock()
		err := cond(w.current)
		changed := w.changed
		w.mu.Unlock()
		if err == nil {
			return time.Now(), nil
		}
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("waiting for %s: %w (last: %v)", what, ctx.Err(), err)
		case <-changed:
		}
	}
}

// inspect runs fn on the latest RedisFailovers by name, under the watch's
// lock; fn must not keep the map.
func (w *statusWatch) inspect(fn func(map[string]*haredisv1.RedisFailover)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	fn(w.current)
}

// writesBetween counts the status writes seen in [from, to).
func (w *statusWatch) writesBetween(from, to time.Time) statusWrites {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := statusWrites{window: to.Sub(from), byField: map[string]int{}}
	for _, c := range w.changes {
		if c.at.Before(from) || !c.at.Before(to) {
			continue
		}
		s.total++
		if c.offsetsOnly {
			s.offsetsOnly++
		}
		for _, f := range c.fields {
			s.byField[f]++
		}
	}
	return s
}

// readyReason is the reason of the Ready condition, "none" without one.
func readyReason(s haredisv1.RedisFailoverStatus) string {
	if c := meta.FindStatusCondition(s.Conditions, haredisv1.ConditionReady); c != nil {
		return c.Reason
	}
	return "none"
}
