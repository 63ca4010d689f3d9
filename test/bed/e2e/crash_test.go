package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/haredis/haredis/internal/supervise"

	"github.com/haredis/haredis/test/bed/cluster"
)

// childEnv makes the test binary start a bed, report its ID and wait to be
// killed: the crash the next test cleans up after.
const childEnv = "HAREDIS_BED_E2E_CRASH_CHILD"

func runChild() int {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := cluster.Start(ctx, cluster.Options{Nodes: 1, HaredisBinary: "/nonexistent"})
	if err != nil {
		fmt.Printf("ERROR %v\n", err)
		return 1
	}
	fmt.Printf("READY %s\n", c.ID)
	select {} // until SIGKILL
}

func TestCrashedBedIsCleanedUpByTheNextRun(t *testing.T) {
	ctx := context.Background()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := supervise.StartTied(cmd); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			if strings.HasPrefix(s.Text(), "READY ") || strings.HasPrefix(s.Text(), "ERROR ") {
				lines <- s.Text()
				return
			}
		}
		close(lines)
	}()
	var id string
	select {
	case line := <-lines:
		if !strings.HasPrefix(line, "READY ") {
			t.Fatalf("the crashing bed did not start: %q", line)
		}
		id = strings.TrimPrefix(line, "READY ")
	case <-time.After(3 * time.Minute):
		t.Fatal("the crashing bed did not start within 3 minutes")
	}
	// Crash: the owner dies without stopping anything.
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	left := cluster.LeftoversOf(ctx, id)
	if !slices.ContainsFunc(left, func(s string) bool { return strings.HasPrefix(s, "netns ") }) {
		t.Fatalf("a crashed bed should leave its namespaces for the next run; found %v", left)
	}
	cleaned, err := cluster.CleanupStale(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(cleaned, id) {
		t.Fatalf("CleanupStale cleaned %v, not the crashed bed %s", cleaned, id)
	}
	if left := cluster.LeftoversOf(ctx, id); len(left) > 0 {
		t.Fatalf("after cleanup the crashed bed still left: %v", left)
	}
}
