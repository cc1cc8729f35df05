package server

import "sync/atomic"

// StreamCounts are the messages the worker streams carried so far, in each direction, and
// what they carried: how many tasks, outcomes and acknowledgements a message bundles is
// what a stream costs per task when tasks trickle in (benchmarks, tests).
type StreamCounts struct {
	Pushes      uint64 // service->worker messages with tasks
	Tasks       uint64 // tasks in them
	AckMessages uint64 // service->worker messages with acknowledgements
	Acks        uint64 // acknowledgements in them (one per outcome message)
	Responses   uint64 // service->worker messages of any kind
	Outcomes    uint64 // worker->service messages with completions or failures
	Completions uint64 // completions and failures in them
	Requests    uint64 // worker->service messages of any kind (credits alone included)
}

// streamCounters counts StreamCounts atomically; every stream of a Server adds to it.
type streamCounters struct {
	pushes, tasks, ackMessages, acks, responses, outcomes, completions, requests atomic.Uint64
}

func (c *streamCounters) sent(tasks, acks int) {
	c.responses.Add(1)
	if tasks > 0 {
		c.pushes.Add(1)
		c.tasks.Add(uint64(tasks))
	}
	if acks > 0 {
		c.ackMessages.Add(1)
		c.acks.Add(uint64(acks))
	}
}

func (c *streamCounters) received(outcomes int) {
	c.requests.Add(1)
	if outcomes > 0 {
		c.outcomes.Add(1)
		c.completions.Add(uint64(outcomes))
	}
}

// StreamCounts returns the counts so far.
func (s *Server) StreamCounts() StreamCounts {
	c := &s.streams
	return StreamCounts{
		Pushes: c.pushes.Load(), Tasks: c.tasks.Load(), AckMessages: c.ackMessages.Load(), Acks: c.acks.Load(),
		Responses: c.responses.Load(), Outcomes: c.outcomes.Load(), Completions: c.completions.Load(), Requests: c.requests.Load(),
	}
}
