package redistest

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// Wait calls cond every interval until it returns nil or ctx ends; then it
// returns the last condition error, so a timeout says what was not reached.
func Wait(ctx context.Context, interval time.Duration, cond func() error) error {
	var last error
	for {
		if last = cond(); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("condition not met before deadline: %w", last)
		case <-time.After(interval):
		}
	}
}

// WaitFor is the tests' one wait with a deadline: it fails the test unless
// cond returns nil within timeout, saying what was awaited and cond's last
// error. Each call of cond gets a context that ends with the deadline and
// after at most 5 s, so that one stuck call cannot use up the whole wait.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last error
	// Fast at first, to catch a short-lived state; then at most ten times a
	// second, so that a long wait does not load the API server.
	interval := 10 * time.Millisecond
	for {
		cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
		err := cond(cctx)
		ccancel()
		if err == nil {
			return
		}
		// A call cut short by the deadline says less than the one before.
		if last == nil || ctx.Err() == nil {
			last = err
		}
		select {
		case <-ctx.Done():
			t.Fatalf("timed out after %s waiting for %s: %v", timeout, what, last)
		case <-time.After(interval):
		}
		interval = min(2*interval, 100*time.Millisecond)
	}
}
