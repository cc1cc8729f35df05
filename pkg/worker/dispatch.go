package worker

// Dispatch is how a worker gets tasks and reports results.
type Dispatch int

const (
	// DispatchStream (the default) uses one long-lived WorkerStream: the worker grants a
	// credit per free slot, the service pushes tasks up to the credits, and completions
	// and failures travel back on the same stream and are acknowledged asynchronously. A
	// slot frees as soon as its handler returns: no round trip per task.
	DispatchStream Dispatch = iota
	// DispatchPoll uses unary long polls (PollTasks, Options.Pollers at once) and
	// CompleteTask(s) calls; a slot frees once its completion is acknowledged.
	DispatchPoll
)

func (d Dispatch) String() string {
	switch d {
	case DispatchStream:
		return "stream"
	case DispatchPoll:
		return "poll"
	}
	return "unknown"
}
