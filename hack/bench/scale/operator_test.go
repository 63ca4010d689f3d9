package main

import "testing"

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
