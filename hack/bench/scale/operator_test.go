package main

import (
	"testing"
	"time"
)

func TestProcFields(t *testing.T) {
	hwm, err := vmHWM("Name:\tharedis\nVmHWM:\t   81920 kB\nVmRSS:\t 70000 kB\n")
	if err != nil || hwm != 80<<20 {
		t.Fatalf("VmHWM %d, %v", hwm, err)
	}
	stat := "42 (a b) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 12345 0 0"
	cpu, started, err := cpuTime(stat)
	if err != nil || cpu.Seconds() != 3 || started != 12345 {
		t.Fatalf("cpu %v started %d, %v", cpu, started, err)
	}
}

func TestParseLabelSteps(t *testing.T) {
	since := time.Date(2026, 12, 4, 20, 0, 0, 0, time.UTC)
	log := `{"level":"info","ts":"2026-12-04T19:59:59Z","logger":"role-labels","msg":"role labels follow the sentinels' new primary","redisfailover":"bench-scale/rf-049","confirmMs":9,"askMs":9,"moveMs":9,"heardAt":"2026-12-04T19:59:59.5Z"}
not json
{"level":"info","ts":"2026-12-04T20:00:01Z","logger":"role-labels","msg":"role labels follow the sentinels' new primary","redisfailover":"bench-scale/rf-048","confirmMs":8,"askMs":8,"moveMs":8,"heardAt":"2026-12-04T20:00:01.25Z"}
{"level":"info","ts":"2026-12-04T20:00:01Z","logger":"role-labels","msg":"role labels follow the sentinels' new primary","redisfailover":"bench-scale/rf-049","confirmMs":12,"askMs":30,"moveMs":250,"heardAt":"2026-12-04T20:00:01.25Z"}
`
	got := parseLabelSteps(log, "bench-scale/rf-049", since)
	want := labelSteps{found: true, heard: since.Add(1250 * time.Millisecond), confirm: 12 * time.Millisecond, ask: 30 * time.Millisecond, patches: 250 * time.Millisecond}
	if got != want {
		t.Fatalf("parsed %+v, want %+v", got, want)
	}
	if got := parseLabelSteps(log, "bench-scale/rf-047", since); got.found {
		t.Fatalf("found steps of a RedisFailover not in the log: %+v", got)
	}
}
