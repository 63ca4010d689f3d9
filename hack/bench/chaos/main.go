// Command chaos-bench runs the fault suite of test/chaos at length: many
// random sequences of planned operations and unplanned faults against a
// RedisFailover on the test bed, each under two checked writers, and ends
// with one summary line:
//
//	bench: chaos sequences=… steps=… lost_acked_planned=… lost_acked_unplanned=… max_recovery_s=… stuck=… wrong_status=…
//
// Run it with `make bench-chaos` (root: the bed needs it). With -plan it
// only prints the plans of the seeds, without a bed.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/haredis/haredis/test/chaos"
	"github.com/haredis/haredis/test/operatorbed"
)

func main() {
	sequences := flag.Int("sequences", 30, "random sequences to run")
	steps := flag.Int("steps", 8, "steps per sequence")
	seed := flag.Uint64("seed", 0, "run only this seed (0: random seeds)")
	seedList := flag.String("seeds", "", "run these seeds, comma-separated (to run again the seeds of an earlier run)")
	planOnly := flag.Bool("plan", false, "print the plans and exit, without a bed")
	asJSON := flag.Bool("json", false, "with -plan: print each plan as JSON (what CHAOS_PLAN reads)")
	restore := flag.Bool("restore", false, "end every sequence with the restore-and-compare step (a backup under load restored into a new RedisFailover)")
	verbose := flag.Bool("v", false, "print every sequence's progress, not only its report (a stuck step's diagnosis is always printed)")
	flag.Parse()
	var seeds []uint64
	switch {
	case *seedList != "":
		for _, f := range strings.Split(*seedList, ",") {
			n, err := strconv.ParseUint(strings.TrimSpace(f), 10, 64)
			if err != nil || n == 0 {
				fmt.Fprintf(os.Stderr, "bench-chaos: -seeds: %q is not a seed (a positive integer)\n", f)
				os.Exit(2)
			}
			seeds = append(seeds, n)
		}
	case *seed != 0:
		seeds = []uint64{*seed}
	default:
		seeds = chaos.RandomSeeds(*sequences)
	}
	if *planOnly {
		for _, s := range seeds {
			p := chaos.NewPlan(s, *steps)
			if *asJSON {
				b, _ := json.MarshalIndent(p, "", "  ")
				fmt.Println(string(b))
				continue
			}
			fmt.Print(p.String())
		}
		return
	}
	ctrllog.SetLogger(logr.Discard())
	chaos.QuietRedisLog()
	if err := run(seeds, *steps, *verbose, *restore); err != nil {
		fmt.Fprintln(os.Stderr, "bench-chaos:", err)
		os.Exit(1)
	}
}

func run(seeds []uint64, steps int, verbose, restore bool) error {
	if os.Geteuid() != 0 {
		return errors.New("the test bed needs root")
	}
	ctx := context.Background()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	env, err := operatorbed.Start(sctx, logr.FromSlogHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	cancel()
	if err != nil {
		return err
	}
	defer env.Stop()
	var store *chaos.RestoreStore
	if restore {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		s, stop, err := chaos.StartRestoreStore(sctx, env)
		cancel()
		if err != nil {
			return err
		}
		defer stop()
		store = s
	}
	fmt.Printf("%d sequences of %d steps, seeds %v\n", len(seeds), steps, seeds)
	var total chaos.Totals
	type kindStat struct {
		n                    int
		maxRecovery          time.Duration
		lostPlanned, lostUnp int
		stuck                int
	}
	kinds := map[chaos.Kind]*kindStat{}
	began := time.Now()
	for i, seed := range seeds {
		// Progress only with -v; a stuck step's diagnosis always.
		logf := func(format string, args ...any) {
			if line := fmt.Sprintf(format, args...); verbose || strings.Contains(line, "diagnosis") || strings.Contains(line, "STUCK") {
				fmt.Printf("%s %s\n", time.Now().Format("15:04:05"), line)
			}
		}
		sctx, cancel := context.WithTimeout(ctx, chaos.SequenceTimeout(steps))
		start := time.Now()
		fmt.Printf("\n[%d/%d] seed %d\n", i+1, len(seeds), seed)
		res := chaos.Run(sctx, env, chaos.NewPlan(seed, steps), chaos.Options{Logf: logf, Restore: store})
		cancel()
		total.Add(res)
		fmt.Printf("took %s\n%s", time.Since(start).Round(time.Second), res.Report())
		for _, sr := range res.Steps {
			k := kinds[sr.Step.Kind]
			if k == nil {
				k = &kindStat{}
				kinds[sr.Step.Kind] = k
			}
			k.n++
			k.maxRecovery = max(k.maxRecovery, sr.Recovery)
			k.lostPlanned += sr.LostPlanned
			k.lostUnp += sr.LostUnplanned
			if sr.Stuck {
				k.stuck++
			}
		}
	}
	var names []string
	for k := range kinds {
		names = append(names, string(k))
	}
	sort.Strings(names)
	fmt.Printf("\nall sequences in %s\n%-26s %5s %14s %12s %14s %6s\n", time.Since(began).Round(time.Second), "step", "runs", "max_recovery_s", "lost_planned", "lost_unplanned", "stuck")
	for _, n := range names {
		k := kinds[chaos.Kind(n)]
		fmt.Printf("%-26s %5d %14.1f %12d %14d %6d\n", n, k.n, k.maxRecovery.Seconds(), k.lostPlanned, k.lostUnp, k.stuck)
	}
	if len(total.Failed) > 0 {
		var s []string
		for _, f := range total.Failed {
			s = append(s, fmt.Sprint(f))
		}
		fmt.Printf("sequences that broke an invariant (replay each with make chaos SEED=N CHAOS_STEPS=%d): %s\n", steps, strings.Join(s, " "))
	}
	fmt.Println(total.Line())
	return nil
}
