package e2e

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/redis/go-redis/v9"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/haredis/haredis/test/operatorbed"
)

var (
	env *operatorbed.Env
	kc  client.Client
)

// Tests that call t.Parallel (TestScheduledBackupsAreRetained,
// TestTwinsNeverCrossFollow, TestPluginGeneratedHelmTemplateBecomesReady,
// TestMetricsAreDocumented) run together once every other test has ended
// (Go's rule for top-level tests), beside nothing that stops the operator
// or measures failed writes. They are the ones that mostly wait (for
// scheduled backups, for RedisFailovers to become Ready) and assert
// outcomes that do not depend on the pace of the machine: the package's
// time shrinks by the sum of all but the longest.
func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("skipping the end-to-end tests in -short mode")
		os.Exit(0)
	}
	if os.Geteuid() != 0 {
		fmt.Println("the test bed needs root; skipping")
		os.Exit(0)
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	level := slog.LevelWarn
	if os.Getenv("BED_VERBOSE") != "" {
		level = slog.LevelInfo
	}
	log := logr.FromSlogHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	// The clients the tests build log through controller-runtime.
	ctrllog.SetLogger(log)
	var err error
	env, err = operatorbed.Start(ctx, log)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Printf("cannot stop the bed: %v\n", err)
		}
	}()
	kc = env.Client
	code := m.Run()
	if store.srv != nil {
		if err := store.srv.Stop(); err != nil {
			fmt.Printf("cannot stop the S3 server: %v\n", err)
		}
	}
	if code != 0 {
		fmt.Printf("operator log (last 200 lines):\n%s\n", env.OperatorLog(context.Background(), 200))
	}
	return code
}

// dial reaches Services and pods from inside the bed's network.
func dial(ctx context.Context, network, addr string) (net.Conn, error) {
	return env.Dial(ctx, network, addr)
}

func plainClient(addr, password string) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: addr, Password: password, Dialer: dial,
		DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second, MaxRetries: -1})
}
