package controller

import (
	"context"
	"sync"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/event"

	haredisv1 "github.com/haredis/haredis/api/v1"
)

// switchoverRunner runs planned switchovers off the reconcile workers, one
// goroutine per RedisFailover at most, as the sentinel watchers run. A
// switchover takes up to the failover timeout plus some seconds; held by a
// worker, it would stop the observation of every other RedisFailover that
// waits for one. The reconcile starts a switchover, sees it running, and
// records its outcome once the runner reports it through the triggers.
type switchoverRunner struct {
	triggers chan<- event.GenericEvent
	log      logr.Logger
	ctx      context.Context
	cancel   context.CancelFunc

	mu      sync.Mutex
	running map[types.NamespacedName]*runningSwitchover
}

// runningSwitchover is one switchover the runner carries out, and its
// outcome once done is closed.
type runningSwitchover struct {
	from, to, reason string
	done             chan struct{}
	cancel           context.CancelFunc
	// outcome is set before done is closed.
	outcome switchoverOutcome
}

// switchoverOutcome is what a finished switchover tells the reconcile.
type switchoverOutcome struct {
	err error
	// heldMS is how long writes were fenced, in milliseconds.
	heldMS int64
	// message describes a success (how long it took, the writes held).
	message string
}

func newSwitchoverRunner(triggers chan<- event.GenericEvent, log logr.Logger) *switchoverRunner {
	ctx, cancel := context.WithCancel(context.Background())
	return &switchoverRunner{triggers: triggers, log: log, ctx: ctx, cancel: cancel, running: map[types.NamespacedName]*runningSwitchover{}}
}

// Start implements manager.Runnable: the manager's stop cancels every
// running switchover (it aborts and keeps the old primary, or its outcome is
// the sentinels' and the next operator reads it).
func (s *switchoverRunner) Start(ctx context.Context) error {
	<-ctx.Done()
	s.cancel()
	return nil
}

// get returns the switchover of rf the runner knows, running or finished
// and not yet recorded, or nil.
func (s *switchoverRunner) get(rf types.NamespacedName) *runningSwitchover {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running[rf]
}

// start runs do for rf in its own goroutine; do's outcome is kept until
// forget, and a reconcile of rf is triggered when it is there. The caller
// checked that none runs (reconciles of one object never overlap).
func (s *switchoverRunner) start(rf types.NamespacedName, from, to, reason string, do func(ctx context.Context) switchoverOutcome) {
	ctx, cancel := context.WithCancel(s.ctx)
	run := &runningSwitchover{from: from, to: to, reason: reason, done: make(chan struct{}), cancel: cancel}
	s.mu.Lock()
	s.running[rf] = run
	s.mu.Unlock()
	go func() {
		defer cancel()
		run.outcome = do(ctx)
		close(run.done)
		obj := &haredisv1.RedisFailover{ObjectMeta: metav1.ObjectMeta{Namespace: rf.Namespace, Name: rf.Name}}
		select {
		case s.triggers <- event.GenericEvent{Object: obj}:
		case <-s.ctx.Done():
		}
	}()
}

// finished reports whether run has its outcome.
func (run *runningSwitchover) finished() bool {
	select {
	case <-run.done:
		return true
	default:
		return false
	}
}

// forget drops rf's finished switchover once its outcome is recorded.
func (s *switchoverRunner) forget(rf types.NamespacedName, run *runningSwitchover) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running[rf] == run {
		delete(s.running, rf)
	}
}

// stop cancels rf's switchover, if one runs, and forgets it: rf is gone or
// being deleted.
func (s *switchoverRunner) stop(rf types.NamespacedName) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if run, ok := s.running[rf]; ok {
		run.cancel()
		delete(s.running, rf)
		s.log.Info("cancelled the switchover of a deleted RedisFailover", "redisfailover", rf.String(), "from", run.from, "to", run.to)
	}
}
