package main

import (
	"testing"
	"time"
)

// TestMedian: the middle value of an odd count, the mean of the middle two of an even
// count, whatever the order.
func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		name string
		xs   []float64
		want float64
	}{
		{name: "one", xs: []float64{5}, want: 5},
		{name: "three unsorted", xs: []float64{9, 1, 4}, want: 4},
		{name: "four: mean of the middle two", xs: []float64{10, 1, 4, 6}, want: 5},
		{name: "two", xs: []float64{2, 3}, want: 2.5},
		{name: "none", xs: nil, want: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := median(tc.xs); got != tc.want {
				t.Fatalf("median(%v) = %v, want %v", tc.xs, got, tc.want)
			}
		})
	}
}

// TestMedianDoesNotReorderInput: the runs' numbers keep their order (they are printed
// per run).
func TestMedianDoesNotReorderInput(t *testing.T) {
	xs := []float64{3, 1, 2}
	median(xs)
	if xs[0] != 3 || xs[1] != 1 || xs[2] != 2 {
		t.Fatalf("input reordered to %v", xs)
	}
}

// TestMedianResultTakesEachNumberOnItsOwn: each number of the median line is the median
// of that number over the runs, not one run's numbers.
func TestMedianResultTakesEachNumberOnItsOwn(t *testing.T) {
	ms := time.Millisecond
	rs := []runResult{
		{tasksPerSec: 100, costs: taskCosts{cpu: 30, serviceCPU: 20, driverCPU: 10, serviceSwitches: 0.5, driverSwitches: 0.3, split: true}, p50: 1 * ms, p99: 9 * ms},
		{tasksPerSec: 300, costs: taskCosts{cpu: 50, serviceCPU: 25, driverCPU: 25, serviceSwitches: 0.1, driverSwitches: 0.2, split: true}, p50: 3 * ms, p99: 5 * ms},
		{tasksPerSec: 200, costs: taskCosts{cpu: 40, serviceCPU: 30, driverCPU: 5, serviceSwitches: 0.4, driverSwitches: 0.9, split: true}, p50: 2 * ms, p99: 7 * ms},
	}
	got := medianResult(rs)
	want := runResult{tasksPerSec: 200, costs: taskCosts{cpu: 40, serviceCPU: 25, driverCPU: 10, serviceSwitches: 0.4, driverSwitches: 0.3, split: true}, p50: 2 * ms, p99: 7 * ms}
	if got != want {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}
