package main

import (
	"os"
	"testing"
	"time"
)

// TestCPUTicksOfOwnProcess: the reader parses this process's real /proc/PID/stat, and the
// ticks grow while the process burns CPU (bounded by a deadline).
func TestCPUTicksOfOwnProcess(t *testing.T) {
	before, err := cpuTicks(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	x := 0
	for {
		for i := 0; i < 1_000_000; i++ {
			x += i
		}
		now, err := cpuTicks(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if now > before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("CPU ticks stayed at %d for 10s of busy loop (%d)", before, x)
		}
	}
}

// TestParseStatTicksCommandWithSpaces: a command name with spaces and ')' does not shift
// the fields; a truncated line is an error.
func TestParseStatTicksCommandWithSpaces(t *testing.T) {
	stat := "42 (a b) c) S 1 42 42 0 -1 4194304 100 0 0 0 7 5 0 0 20 0 1 0 10 0 0\n"
	got, err := parseStatTicks(stat)
	if err != nil || got != 12 {
		t.Fatalf("ticks %d, err %v; want 12", got, err)
	}
	if _, err := parseStatTicks("42 (x) S 1 2"); err == nil {
		t.Fatal("truncated stat parsed without error")
	}
}
