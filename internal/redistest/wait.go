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

// Eventually fails the test unless cond returns nil within timeout.
func Eventually(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := Wait(ctx, 20*time.Millisecond, cond); err != nil {
		t.Fatal(err)
	}
}
