package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
)

// follower watches a kind of objects (listed, then watched, in an
// informer's store) and notes when a condition on all of them first holds.
type follower struct {
	synced chan struct{}
	done   chan struct{}
	at     time.Time
	err    error
}

// startFollower follows the objects of resource in the bench's namespace
// that selector selects; cond sees the whole store after each event.
func startFollower(ctx context.Context, c cache.Getter, resource, selector string, obj runtime.Object, cond func([]any) bool) *follower {
	f := &follower{synced: make(chan struct{}), done: make(chan struct{})}
	lw := cache.NewFilteredListWatchFromClient(c, resource, namespace, func(o *metav1.ListOptions) { o.LabelSelector = selector })
	go func() {
		defer close(f.done)
		var store cache.Store
		_, f.err = watchtools.UntilWithSync(ctx, lw, obj,
			func(s cache.Store) (bool, error) {
				store = s
				close(f.synced)
				return false, nil
			},
			func(watch.Event) (bool, error) {
				if cond(store.List()) {
					f.at = time.Now()
					return true, nil
				}
				return false, nil
			})
	}()
	return f
}

// waitSynced returns once the follower holds the objects as they are now.
func (f *follower) waitSynced(ctx context.Context) error {
	select {
	case <-f.synced:
		return nil
	case <-f.done:
		if f.err != nil {
			return fmt.Errorf("cannot watch: %w", f.err)
		}
		return errors.New("the watch ended before it listed the objects")
	case <-ctx.Done():
		return fmt.Errorf("cannot list the objects to watch: %w", ctx.Err())
	}
}

// since waits until the condition held (or the follower's context ended)
// and returns how long after t it first held.
func (f *follower) since(t time.Time) (time.Duration, error) {
	<-f.done
	if f.err != nil {
		return 0, f.err
	}
	if f.at.Before(t) {
		return 0, errors.New("the condition held before the kill")
	}
	return f.at.Sub(t), nil
}
