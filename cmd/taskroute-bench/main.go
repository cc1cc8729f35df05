// Command taskroute-bench measures the matching service end to end: a real
// `manager --standalone` process with durable writes, driven over gRPC on 127.0.0.1 by the
// public SDK (pkg/client, pkg/worker). hack/bench.sh (make bench) runs it; the numbers go
// to docs/benchmarks.md by hand.
//
// Scenarios (each on a fresh server and data dir):
//
//	latency  sync-match dispatch latency: add -> task in a waiting poller's hands (p50, p99)
//	single   throughput add -> poll -> complete, concurrent single AddTask calls
//	batched  throughput add -> poll -> complete, AddTasks batches
//	memory   memory per idle loaded queue: touch N queues, server RSS delta / N
//	restart  restart with a large backlog: process start -> first dispatch
//
// The dispatch-performance workloads (make bench runs these by default): one pkg/worker
// worker (its defaults, -workload-slots slots, no-op handler), -workload-tasks tasks of
// -workload-payload bytes, machine CPU per task from /proc of both processes, split into
// the service's and the driver's share, and each process's context switches per task:
//
//	drain-batched  one producer adds AddTasks batches of -drain-batch; tasks/s
//	drain-single   -drain-producers goroutines add one task per AddTask call; tasks/s
//	start-latency  adds one at a time to an idle worker: add -> handler start (p50, p99)
//
// Each workload runs -runs times (3; the targets are medians of 3 runs), every run
// on a fresh server and data dir, then one line gives the median of each number.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/taskroute/taskroute/pkg/client"
	"github.com/taskroute/taskroute/pkg/worker"
)

type config struct {
	managerBin     string
	scenarios      string
	workDir        string
	latencySamples int
	singleTasks    int
	singleAdders   int
	batchedTasks   int
	batchSize      int
	batchAdders    int
	workerSlots    int
	workers        int
	queues         int
	restartTasks   int
	serverArgs     string
	inProcess      bool
	cpuProfile     string
	memProfile     string

	workloadTasks   int
	workloadPayload int
	workloadSlots   int
	drainBatch      int
	drainProducers  int
	startSamples    int
	dispatch        string
	addSenders      int
	runs            int
}

func main() {
	var cfg config
	flag.StringVar(&cfg.managerBin, "manager", "bin/manager", "path of the manager binary (run with --standalone)")
	flag.StringVar(&cfg.scenarios, "scenarios", "drain-batched,drain-single,start-latency",
		"comma-separated scenarios: drain-batched, drain-single, start-latency, latency, single, batched, memory, restart")
	flag.StringVar(&cfg.workDir, "work-dir", "", "where data dirs go (default a temp dir, removed after)")
	flag.IntVar(&cfg.latencySamples, "latency-samples", 5000, "adds measured for sync-match latency")
	flag.IntVar(&cfg.singleTasks, "single-tasks", 100_000, "tasks of the single-add throughput run")
	flag.IntVar(&cfg.singleAdders, "single-adders", 256, "concurrent single AddTask callers")
	flag.IntVar(&cfg.batchedTasks, "batched-tasks", 300_000, "tasks of the batched throughput run")
	flag.IntVar(&cfg.batchSize, "batch-size", 1000, "tasks per AddTasks call")
	flag.IntVar(&cfg.batchAdders, "batch-adders", 4, "concurrent AddTasks callers")
	flag.IntVar(&cfg.workerSlots, "worker-slots", 2000, "slots of each worker")
	flag.IntVar(&cfg.workers, "workers", 2, "workers (in the driver process, SDK worker each)")
	flag.IntVar(&cfg.queues, "queues", 100_000, "queues touched by the memory scenario")
	flag.IntVar(&cfg.restartTasks, "restart-tasks", 1_000_000, "backlog of the restart scenario")
	flag.StringVar(&cfg.serverArgs, "server-args", "", "extra manager flags, space-separated")
	flag.BoolVar(&cfg.inProcess, "inprocess", false, "run the service inside the driver (to profile both together; it costs less CPU and fewer context switches per task than the process mode, whose numbers are the ones to record)")
	flag.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write a CPU profile of the driver (and of the service with -inprocess) to this file")
	flag.StringVar(&cfg.memProfile, "memprofile", "", "with -inprocess, write a heap profile at the end of the memory scenario")
	flag.IntVar(&cfg.workloadTasks, "workload-tasks", 100_000, "tasks of drain-batched and drain-single")
	flag.IntVar(&cfg.workloadPayload, "workload-payload", 100, "payload bytes of each task of drain-batched, drain-single and start-latency")
	flag.IntVar(&cfg.workloadSlots, "workload-slots", 64, "slots of the worker of drain-batched, drain-single and start-latency")
	flag.IntVar(&cfg.drainBatch, "drain-batch", 1000, "tasks per AddTasks call of drain-batched")
	flag.IntVar(&cfg.drainProducers, "drain-producers", 16, "concurrent AddTask callers of drain-single")
	flag.IntVar(&cfg.startSamples, "start-samples", 2000, "adds measured by start-latency")
	flag.IntVar(&cfg.addSenders, "add-senders", client.DefaultAddSenders, "the driver client's AddTask senders (client.WithAddSenders; 0 sends every AddTask alone)")
	flag.IntVar(&cfg.runs, "runs", 3, "runs of each of drain-batched, drain-single and start-latency, each on a fresh service and data dir, then one line of their medians (of an even count, the mean of the middle two)")
	flag.StringVar(&cfg.dispatch, "dispatch", "stream", "how the SDK workers get tasks: stream (WorkerStream) or poll (PollTasks and CompleteTasks)")
	flag.Parse()

	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "taskroute-bench:", err)
		os.Exit(1)
	}
}

// workerDispatch is the SDK dispatch named by -dispatch ("" is the SDK's default).
func (cfg config) workerDispatch() (worker.Dispatch, error) {
	switch cfg.dispatch {
	case "", "stream":
		return worker.DispatchStream, nil
	case "poll":
		return worker.DispatchPoll, nil
	}
	return 0, fmt.Errorf("-dispatch: want stream or poll, got %q", cfg.dispatch)
}

func run(cfg config) (err error) {
	if _, err := cfg.workerDispatch(); err != nil {
		return err
	}
	if cfg.runs < 1 {
		return fmt.Errorf("-runs: want at least 1, got %d", cfg.runs)
	}
	stopProfile, err := startCPUProfile(cfg.cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	if cfg.workDir == "" {
		dir, mkErr := os.MkdirTemp("", "taskroute-bench-")
		if mkErr != nil {
			return mkErr
		}
		defer func() {
			if err != nil {
				// Keep the data dirs and the manager's log of a failed run for diagnosis.
				fmt.Fprintln(os.Stderr, "taskroute-bench: kept", dir, "(data and manager.log of the failed run)")
				return
			}
			os.RemoveAll(dir)
		}()
		cfg.workDir = dir
	}
	fmt.Printf("# taskroute-bench %s, GOMAXPROCS of the driver %d, CPUs %d\n", time.Now().UTC().Format(time.RFC3339), runtime.GOMAXPROCS(0), runtime.NumCPU())
	for _, name := range strings.Split(cfg.scenarios, ",") {
		name = strings.TrimSpace(name)
		if err := runScenario(cfg, name); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

// runScenario runs a dispatch workload -runs times, then prints the medians, or runs
// another scenario once; every run on a fresh service and data dir.
func runScenario(cfg config, name string) error {
	if fn, ok := scenarios[name]; ok {
		fmt.Printf("\n## %s (load average %s)\n", name, loadAverage())
		return onFreshServer(cfg, filepath.Join(cfg.workDir, name), func(s *serverProc) error { return fn(cfg, s) })
	}
	fn, ok := workloads[name]
	if !ok {
		return fmt.Errorf("unknown scenario %q", name)
	}
	results := make([]runResult, 0, cfg.runs)
	for i := 1; i <= cfg.runs; i++ {
		fmt.Printf("\n## %s, run %d of %d (load average %s)\n", name, i, cfg.runs, loadAverage())
		err := onFreshServer(cfg, filepath.Join(cfg.workDir, name, fmt.Sprintf("run-%d", i)), func(s *serverProc) error {
			r, err := fn(cfg, s)
			results = append(results, r)
			return err
		})
		if err != nil {
			return fmt.Errorf("run %d: %w", i, err)
		}
	}
	printMedian(name, results)
	return nil
}

// onFreshServer creates a service on a new data dir under dir, calls fn and stops the
// service.
func onFreshServer(cfg config, dir string, fn func(*serverProc) error) error {
	dataDir := filepath.Join(dir, "data")
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return err
	}
	var extra []string
	if cfg.serverArgs != "" {
		extra = strings.Fields(cfg.serverArgs)
	}
	s, err := newServer(cfg.managerBin, dataDir, extra)
	if err != nil {
		return err
	}
	s.inProcess = cfg.inProcess
	s.addSenders = cfg.addSenders
	defer s.stop()
	return fn(s)
}

var scenarios = map[string]func(config, *serverProc) error{
	"latency": benchLatency,
	"single":  benchSingle,
	"batched": benchBatched,
	"memory":  benchMemory,
	"restart": benchRestart,
}

// workloads are the dispatch-performance workloads, repeated -runs times.
var workloads = map[string]func(config, *serverProc) (runResult, error){
	"drain-batched": benchDrainBatched,
	"drain-single":  benchDrainSingle,
	"start-latency": benchStartLatency,
}

// loadAverage is the machine's 1, 5 and 15-minute load averages (/proc/loadavg): the
// driver and the server share the machine, so the load of anything else is recorded with
// each scenario.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}

// startAndDial starts the server and returns a ready client.
func startAndDial(s *serverProc) (*client.Client, error) {
	if err := s.start(); err != nil {
		return nil, err
	}
	c, err := client.Dial(context.Background(), s.addr, client.WithNamespace("bench"), client.WithCallTimeout(time.Minute),
		client.WithAddSenders(s.addSenders))
	if err != nil {
		return nil, err
	}
	if err := s.waitReady(c, time.Minute); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}
