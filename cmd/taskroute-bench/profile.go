package main

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"time"

	"github.com/taskroute/taskroute/internal/matching/server"
	"github.com/taskroute/taskroute/pkg/client"
)

// inProcessServer runs the service inside the driver (for -inprocess), so one CPU profile
// covers the service and the load together. Numbers of the process mode are the ones to
// record; this mode is for finding what limits them.
type inProcessServer struct {
	svc    *server.Service
	cancel context.CancelFunc
}

func startInProcess(dataDir string) (*inProcessServer, error) {
	svc, err := server.Open(server.Config{Address: "127.0.0.1:0", DataDir: dataDir})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _ = svc.Start(ctx) }()
	c, err := client.Dial(context.Background(), svc.Addr(), client.WithNamespace("bench"))
	if err != nil {
		cancel()
		return nil, err
	}
	defer c.Close()
	for i := 0; ; i++ {
		if _, err := c.ListQueues(context.Background(), 1); err == nil {
			break
		} else if i > 500 {
			cancel()
			return nil, fmt.Errorf("in-process service not ready: %w", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return &inProcessServer{svc: svc, cancel: cancel}, nil
}

func (p *inProcessServer) stop() {
	p.cancel()
	p.svc.Stop()
}

// startCPUProfile writes a CPU profile to path until the returned function is called.
func startCPUProfile(path string) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// writeHeapProfile writes a heap profile to path ("" does nothing).
func writeHeapProfile(path string) error {
	if path == "" {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.Lookup("heap").WriteTo(f, 0)
}

// commitCounts are the service's synced commits and mutations so far, its commits by
// cause and its worker streams' messages.
type commitCounts struct {
	commits, mutations uint64
	written            uint64 // mutations that reached the store
	byCauses           [8]uint64
	streams            server.StreamCounts
}

func (c commitCounts) minus(o commitCounts) commitCounts {
	d := commitCounts{commits: c.commits - o.commits, mutations: c.mutations - o.mutations, written: c.written - o.written}
	for i := range c.byCauses {
		d.byCauses[i] = c.byCauses[i] - o.byCauses[i]
	}
	a, b := c.streams, o.streams
	d.streams = server.StreamCounts{
		Pushes: a.Pushes - b.Pushes, Tasks: a.Tasks - b.Tasks, AckMessages: a.AckMessages - b.AckMessages,
		Acks: a.Acks - b.Acks, Responses: a.Responses - b.Responses, Outcomes: a.Outcomes - b.Outcomes,
		Completions: a.Completions - b.Completions, Requests: a.Requests - b.Requests,
	}
	return d
}

// commitStats reads the in-process service's counters (zero in process mode).
func (s *serverProc) commitStats() commitCounts {
	if s.inproc == nil {
		return commitCounts{}
	}
	e := s.inproc.svc.Engine()
	c, m := e.CommitStats()
	return commitCounts{commits: c, mutations: m, written: e.CommitWritten(), byCauses: e.CommitsByCauses(), streams: s.inproc.svc.StreamCounts()}
}
