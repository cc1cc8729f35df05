package main

import (
	"fmt"
	"os"
	"runtime"
	"syscall"
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

// TestParseContextSwitches: the voluntary and involuntary counts of a thread's status are
// added; a status without one of them or with a bad number is an error.
func TestParseContextSwitches(t *testing.T) {
	for _, tc := range []struct {
		name, status string
		want         int64
		wantErr      bool
	}{
		{name: "both", status: "Name:\tbench\nState:\tS (sleeping)\nvoluntary_ctxt_switches:\t120\nnonvoluntary_ctxt_switches:\t7\n", want: 127},
		{name: "zeros", status: "voluntary_ctxt_switches:\t0\nnonvoluntary_ctxt_switches:\t0", want: 0},
		{name: "involuntary missing", status: "voluntary_ctxt_switches:\t120\n", wantErr: true},
		{name: "voluntary missing", status: "nonvoluntary_ctxt_switches:\t7\n", wantErr: true},
		{name: "not a number", status: "voluntary_ctxt_switches:\tx\nnonvoluntary_ctxt_switches:\t7\n", wantErr: true},
		{name: "empty", status: "", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseContextSwitches(tc.status)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("got %d, err %v; want %d, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// TestContextSwitchesOfOwnProcess: the sum over this process's real threads grows while a
// goroutine locked to its thread waits for messages (each wait parks the thread: a
// voluntary switch), bounded by a deadline; and it counts that thread, not only the main
// thread that /proc/PID/status describes.
func TestContextSwitchesOfOwnProcess(t *testing.T) {
	pid := os.Getpid()
	// Two waiters hold two threads, so at least one is not the main thread.
	a, b := startLockedWaiter(), startLockedWaiter()
	defer a.stop()
	defer b.stop()
	w := a
	if a.tid == pid {
		w = b
	}
	ping, locked := w.ping, w.tid
	before, err := contextSwitches(pid)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for now := before; now <= before; {
		if time.Now().After(deadline) {
			t.Fatalf("context switches stayed at %d for 10s", before)
		}
		ping <- struct{}{}
		if now, err = contextSwitches(pid); err != nil {
			t.Fatal(err)
		}
	}
	mainThread := threadSwitches(t, fmt.Sprintf("/proc/%d/status", pid))
	lockedThread := threadSwitches(t, fmt.Sprintf("/proc/%d/task/%d/status", pid, locked))
	// Counts only grow, so a sum read after both covers both.
	if total, err := contextSwitches(pid); err != nil || total < mainThread+lockedThread {
		t.Fatalf("sum %d (err %v) below the main thread's %d + the locked thread's %d", total, err, mainThread, lockedThread)
	}
}

// lockedWaiter is a goroutine locked to its thread (tid) that receives from ping until
// stop; the thread outlives it (it unlocks before returning).
type lockedWaiter struct {
	tid        int
	ping, done chan struct{}
}

func startLockedWaiter() *lockedWaiter {
	w := &lockedWaiter{ping: make(chan struct{}), done: make(chan struct{})}
	tid := make(chan int, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tid <- syscall.Gettid()
		for range w.ping {
		}
		close(w.done)
	}()
	w.tid = <-tid
	return w
}

func (w *lockedWaiter) stop() { close(w.ping); <-w.done }

func threadSwitches(t *testing.T, statusPath string) int64 {
	t.Helper()
	b, err := os.ReadFile(statusPath)
	if err != nil {
		t.Fatal(err)
	}
	n, err := parseContextSwitches(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return n
}
