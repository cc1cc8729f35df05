package autoscaler

import (
	"math"

	"github.com/taskroute/taskroute/internal/queueconfig"
)

// Pool is what the autoscaler needs to know of a WorkerPool to read its load.
type Pool struct {
	// Name is the pool's name, as its workers report it in their polls.
	Name string
	// Profile is what the pool's workers serve (capabilities, priorities).
	Profile queueconfig.WorkerProfile
}

// Observe fills the load fields of in from the queue's statistics, narrowed to what the
// pool serves:
//   - Backlog and OldestAge: the backlog entries the pool's profile serves;
//   - InFlight: the tasks the pool's connected workers run (the service counts them per
//     worker); from a service that does not, the queue's running tasks in proportion to
//     the pool's share of the connected workers;
//   - DispatchRate: the queue's, in proportion to the pool's share of the workers;
//   - ArrivalRate: the queue's, in proportion to the pool's share of the waiting backlog
//     (of the workers when nothing waits), so tasks it cannot serve do not grow it;
//   - Pinned: the host- and process-routed backlog entries that one of the pool's
//     connected workers meets (each needs at least that worker).
func Observe(s queueconfig.Stats, pool Pool, in *Input) {
	in.Backlog, in.OldestAge = queueconfig.ServableBacklog(s.Backlog, pool.Profile)
	own, all := workerShare(s.Pollers, pool.Name)
	workers := share(own, all)
	in.InFlight = inFlight(s, pool.Name, workers)
	in.DispatchRate = s.DispatchRate * workers
	in.ArrivalRate = s.AddRate * arrivalShare(s.Backlog, in.Backlog, workers)
	in.Throttling = s.RateLimitState == queueconfig.RateLimitThrottling
	in.Pinned = pinnedWorkers(s, pool.Name)
}

// workerShare counts the distinct connected workers of the pool and of the queue.
func workerShare(pollers []queueconfig.Poller, pool string) (own, all int) {
	seen := make(map[string]bool, len(pollers))
	for _, p := range pollers {
		if seen[p.Identity] {
			continue
		}
		seen[p.Identity] = true
		all++
		if p.Pool == pool {
			own++
		}
	}
	return own, all
}

// inFlight is the pool's running tasks: its workers' counts, or an estimate from the
// queue's count when no worker reports one.
func inFlight(s queueconfig.Stats, pool string, workers float64) int64 {
	var own, all int64
	seen := make(map[string]bool, len(s.Pollers))
	for _, p := range s.Pollers {
		if seen[p.Identity] {
			continue // listed once per kind; the count is the worker's
		}
		seen[p.Identity] = true
		all += p.Running
		if p.Pool == pool {
			own += p.Running
		}
	}
	if all == 0 && s.Running > 0 {
		return int64(math.Ceil(float64(s.Running) * workers))
	}
	return own
}

func share(own, all int) float64 {
	if all == 0 {
		return 0
	}
	return float64(own) / float64(all)
}

// arrivalShare is the part of the queue's arrivals that is the pool's: its part of the
// waiting backlog, or of the workers when nothing waits.
func arrivalShare(backlog []queueconfig.Backlog, servable int64, workers float64) float64 {
	var total int64
	for _, b := range backlog {
		total += b.Count
	}
	if total == 0 {
		return workers
	}
	return float64(servable) / float64(total)
}

// pinnedWorkers counts the pinned backlog entries that a connected worker of the pool
// meets, at most the pool's connected workers.
func pinnedWorkers(s queueconfig.Stats, pool string) int32 {
	var own []queueconfig.WorkerProfile
	for _, p := range s.Pollers {
		if p.Pool == pool {
			own = append(own, queueconfig.WorkerProfile{Capabilities: p.Capabilities})
		}
	}
	n, _ := workerShare(s.Pollers, pool)
	pinned := 0
	for _, b := range s.Backlog {
		if b.Count == 0 || !b.Pinned() {
			continue
		}
		for _, w := range own {
			if w.Meets(b.Requires) {
				pinned++
				break
			}
		}
	}
	return int32(min(pinned, n))
}
