package main

import (
	"fmt"
	"slices"
	"time"
)

// runResult is what one run of a dispatch workload measured; -runs repeats a workload and
// prints the median of each number.
type runResult struct {
	tasksPerSec float64 // drain workloads
	costs       taskCosts
	latency     bool          // start-latency: p50 and p99 instead of tasks/s
	p50, p99    time.Duration // of add -> handler start
}

// median is the middle value of xs; of an even count, the mean of the middle two.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	mid := len(s) / 2
	if len(s)%2 == 0 {
		return (s[mid-1] + s[mid]) / 2
	}
	return s[mid]
}

// medianOf is the median of one number of each run.
func medianOf(rs []runResult, number func(runResult) float64) float64 {
	xs := make([]float64, len(rs))
	for i, r := range rs {
		xs[i] = number(r)
	}
	return median(xs)
}

// medianResult takes the median of every number separately, so its numbers may come from
// different runs.
func medianResult(rs []runResult) runResult {
	m := func(number func(runResult) float64) float64 { return medianOf(rs, number) }
	duration := func(number func(runResult) time.Duration) time.Duration {
		return time.Duration(m(func(r runResult) float64 { return float64(number(r)) })).Round(time.Microsecond)
	}
	return runResult{
		tasksPerSec: m(func(r runResult) float64 { return r.tasksPerSec }),
		costs: taskCosts{
			cpu:             m(func(r runResult) float64 { return r.costs.cpu }),
			serviceCPU:      m(func(r runResult) float64 { return r.costs.serviceCPU }),
			driverCPU:       m(func(r runResult) float64 { return r.costs.driverCPU }),
			serviceSwitches: m(func(r runResult) float64 { return r.costs.serviceSwitches }),
			driverSwitches:  m(func(r runResult) float64 { return r.costs.driverSwitches }),
			split:           len(rs) > 0 && rs[0].costs.split,
		},
		latency: len(rs) > 0 && rs[0].latency,
		p50:     duration(func(r runResult) time.Duration { return r.p50 }),
		p99:     duration(func(r runResult) time.Duration { return r.p99 }),
	}
}

// printMedian prints the one line that sums up a workload's runs.
func printMedian(name string, rs []runResult) {
	m := medianResult(rs)
	measure := fmt.Sprintf("%.0f tasks/s", m.tasksPerSec)
	if m.latency {
		measure = fmt.Sprintf("add -> handler start p50 %v  p99 %v", m.p50, m.p99)
	}
	fmt.Printf("\n## %s: median of %d runs (each number on its own): %s; machine CPU %.1f µs per task (%s)\n",
		name, len(rs), measure, m.costs.cpu, m.costs)
}
