package main

import "testing"

// TestCostsPerTask: the window's CPU ticks and context switches of each process, per task;
// the machine CPU is the sum of both processes.
func TestCostsPerTask(t *testing.T) {
	before := machineUsage{service: usage{ticks: 100, switches: 1000}, driver: usage{ticks: 50, switches: 400}, split: true}
	after := machineUsage{service: usage{ticks: 500, switches: 6000}, driver: usage{ticks: 250, switches: 2400}, split: true}
	got := costsPerTask(before, after, 100_000)
	// 400 ticks of 10 ms = 4 s over 100,000 tasks = 40 µs; 5,000 switches / 100,000 = 0.05.
	want := taskCosts{cpu: 60, serviceCPU: 40, driverCPU: 20, serviceSwitches: 0.05, driverSwitches: 0.02, split: true}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if s, w := got.String(), "service 40.0 µs + driver 20.0 µs; ctx switches/task service 0.05, driver 0.02"; s != w {
		t.Fatalf("String() = %q, want %q", s, w)
	}
}

// TestCostsPerTaskInProcess: with the service inside the driver there is one process, and
// the line says so instead of a split.
func TestCostsPerTaskInProcess(t *testing.T) {
	before := machineUsage{driver: usage{ticks: 10, switches: 100}}
	after := machineUsage{driver: usage{ticks: 410, switches: 20_100}}
	got := costsPerTask(before, after, 100_000)
	if got.cpu != 40 || got.split {
		t.Fatalf("got %+v, want 40 µs per task, not split", got)
	}
	if s, w := got.String(), "ctx switches/task 0.20 (service and driver in one process)"; s != w {
		t.Fatalf("String() = %q, want %q", s, w)
	}
}
