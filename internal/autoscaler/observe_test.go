package autoscaler

import (
	"testing"
	"time"

	"github.com/taskroute/taskroute/api/v1alpha1"
	"github.com/taskroute/taskroute/internal/queueconfig"
)

var (
	gpu     = queueconfig.Capability{Name: "gpu", Value: "a100"}
	cpuPool = Pool{Name: "cpu"}
	gpuPool = Pool{Name: "gpu", Profile: queueconfig.WorkerProfile{Capabilities: []queueconfig.Capability{gpu}}}
)

func host(name string) queueconfig.Capability {
	return queueconfig.Capability{Name: queueconfig.CapabilityHost, Value: name}
}

// decideFor observes the stats for the pool and decides from base.
func decideFor(s queueconfig.Stats, pool Pool, change func(*Input)) Decision {
	in := base(change)
	Observe(s, pool, &in)
	return Decide(in)
}

func TestCapabilitySplitBacklogGrowsOnlyThePoolThatServesIt(t *testing.T) {
	s := queueconfig.Stats{AddRate: 100, Backlog: []queueconfig.Backlog{
		{Kind: queueconfig.KindActivity, Priority: 3, Count: 800, OldestAge: time.Hour, Requires: []queueconfig.Capability{gpu}},
	}}
	cpu := decideFor(s, cpuPool, func(in *Input) { in.Current, in.MaxBacklogAge = 0, time.Minute })
	if cpu.Replicas != 0 || cpu.Input.Backlog != 0 || cpu.Input.ArrivalRate != 0 {
		t.Errorf("CPU pool: %s", cpu.Message())
	}
	g := decideFor(s, gpuPool, func(in *Input) { in.Current = 0 })
	if g.Replicas != 4 || g.Input.Backlog != 800 || g.Input.ArrivalRate != 100 {
		t.Errorf("GPU pool: %s", g.Message())
	}
}

func TestPrioritySplitBacklog(t *testing.T) {
	s := queueconfig.Stats{Backlog: []queueconfig.Backlog{{Priority: 5, Count: 30}, {Priority: 1, Count: 500}}}
	high := Pool{Name: "high", Profile: queueconfig.WorkerProfile{Priorities: []int{5}}}
	if d := decideFor(s, high, func(in *Input) { in.Current = 3 }); d.Replicas != 3 || d.Reason != v1alpha1.ReasonAtRecommendation {
		t.Errorf("high-priority pool: %s (%s)", d.Message(), d.Reason)
	}
}

func TestWorkPinnedToAPoolKeepsItFromZero(t *testing.T) {
	s := queueconfig.Stats{
		Backlog: []queueconfig.Backlog{{Priority: 3, Count: 2, Requires: []queueconfig.Capability{host("node-1")}}},
		Pollers: []queueconfig.Poller{
			{Identity: "w1", Pool: "cpu", Capabilities: []queueconfig.Capability{host("node-1")}},
			{Identity: "w2", Pool: "cpu", Capabilities: []queueconfig.Capability{host("node-2")}},
			{Identity: "o1", Pool: "other", Capabilities: []queueconfig.Capability{host("node-3")}},
		},
	}
	d := decideFor(s, cpuPool, func(in *Input) { in.Current, in.State.ScaleDownSince = 2, t0.Add(-time.Hour) })
	if d.Replicas != 1 || d.Limited != v1alpha1.ReasonPinnedWork || d.Input.Pinned != 1 {
		t.Errorf("pool with pinned work: %d %s: %s", d.Replicas, d.Limited, d.Message())
	}
	// The other pool's worker is not on node-1: nothing pins it, it goes to zero.
	o := decideFor(s, Pool{Name: "other"}, func(in *Input) { in.Current, in.State.ScaleDownSince = 1, t0.Add(-time.Hour) })
	if o.Replicas != 0 {
		t.Errorf("pool without pinned work: %s", o.Message())
	}
}

func TestInFlightCountsThePoolsOwnWorkers(t *testing.T) {
	// The GPU pool's workers run 30 tasks, the CPU pool's 2: the CPU pool is not busy.
	s := queueconfig.Stats{Running: 32, Pollers: []queueconfig.Poller{
		{Identity: "c1", Pool: "cpu", Running: 2}, {Identity: "c1", Pool: "cpu", Running: 2}, {Identity: "c2", Pool: "cpu"},
		{Identity: "g1", Pool: "gpu", Running: 30},
	}}
	var in Input
	Observe(s, cpuPool, &in)
	if in.InFlight != 2 {
		t.Errorf("CPU pool in flight %d, want 2", in.InFlight)
	}
	Observe(s, gpuPool, &in)
	if in.InFlight != 30 {
		t.Errorf("GPU pool in flight %d, want 30", in.InFlight)
	}
}

// A service that reports running tasks only per queue: shared by connected workers.
func TestInFlightIsSharedByConnectedWorkers(t *testing.T) {
	s := queueconfig.Stats{Running: 40, DispatchRate: 20, Pollers: []queueconfig.Poller{
		{Identity: "a", Pool: "cpu"}, {Identity: "a", Pool: "cpu"}, {Identity: "b", Pool: "cpu"}, {Identity: "c", Pool: "gpu"}, {Identity: "d", Pool: "gpu"},
	}}
	var in Input
	Observe(s, cpuPool, &in)
	if in.InFlight != 20 || in.DispatchRate != 10 {
		t.Errorf("in flight %d, dispatch %.1f; want half of the queue's: 20, 10", in.InFlight, in.DispatchRate)
	}
}
