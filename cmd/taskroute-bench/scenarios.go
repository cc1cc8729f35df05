package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/pkg/client"
	"github.com/taskroute/taskroute/pkg/worker"
)

// benchLatency: pollers wait on a queue; tasks are added one at a time, each after the
// previous one was received; latency is from just before AddTask is sent to the moment
// a poller's PollTasks returns it (same process, same clock).
func benchLatency(cfg config, s *serverProc) error {
	c, err := startAndDial(s)
	if err != nil {
		return err
	}
	defer c.Close()
	rpc := c.Service()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	received := make(chan time.Time, 16)
	var leases sync.Map
	for i := 0; i < 4; i++ {
		go func() {
			for ctx.Err() == nil {
				pctx, pcancel := context.WithTimeout(ctx, 30*time.Second)
				resp, err := rpc.PollTasks(pctx, &matchingv1.PollTasksRequest{
					Namespace: "bench", Queue: "latency", WorkerIdentity: fmt.Sprintf("lat-%d", i), MaxTasks: 1,
					TaskTypes: []string{"t"},
				})
				pcancel()
				now := time.Now()
				if err != nil {
					continue
				}
				for _, t := range resp.GetTasks() {
					leases.Store(t.GetTaskId(), t.GetLeaseId())
					received <- now
				}
			}
		}()
	}
	time.Sleep(200 * time.Millisecond) // pollers are waiting

	warmup := min(500, cfg.latencySamples/5)
	lat := make([]time.Duration, 0, cfg.latencySamples)
	var ackLat []time.Duration
	for i := 0; i < warmup+cfg.latencySamples; i++ {
		time.Sleep(time.Millisecond) // the poller that got the last task is back waiting
		start := time.Now()
		acked := make(chan time.Time, 1)
		go func() {
			if _, err := c.AddTask(ctx, client.Task{Queue: "latency", Type: "t", ID: "lat-" + strconv.Itoa(i)}); err != nil {
				fmt.Println("add failed:", err)
			}
			acked <- time.Now()
		}()
		var got time.Time
		select {
		case got = <-received:
		case <-time.After(10 * time.Second):
			return fmt.Errorf("task %d not dispatched within 10s", i)
		}
		ack := <-acked
		if i >= warmup {
			lat = append(lat, got.Sub(start))
			ackLat = append(ackLat, ack.Sub(start))
		}
	}
	cancel()
	// Complete what was dispatched, so the data dir ends clean.
	completeAll(c, &leases)
	p := percentiles(lat)
	a := percentiles(ackLat)
	fmt.Printf("sync-match latency add -> poller (n=%d): p50 %v  p90 %v  p99 %v  max %v\n", len(lat), p[50], p[90], p[99], p[100])
	fmt.Printf("add acknowledged (durable) latency:        p50 %v  p90 %v  p99 %v  max %v\n", a[50], a[90], a[99], a[100])
	return nil
}

func completeAll(c *client.Client, leases *sync.Map) {
	req := &matchingv1.CompleteTasksRequest{}
	leases.Range(func(k, v any) bool {
		req.Completions = append(req.Completions, &matchingv1.CompleteTaskRequest{Namespace: "bench", TaskId: k.(string), LeaseId: v.(string)})
		if len(req.Completions) == 1000 {
			_, _ = c.Service().CompleteTasks(context.Background(), req)
			req = &matchingv1.CompleteTasksRequest{}
		}
		return true
	})
	if len(req.Completions) > 0 {
		_, _ = c.Service().CompleteTasks(context.Background(), req)
	}
}

func percentiles(d []time.Duration) map[int]time.Duration {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	out := map[int]time.Duration{}
	for _, p := range []int{50, 90, 99, 100} {
		i := len(d) * p / 100
		if i >= len(d) {
			i = len(d) - 1
		}
		out[p] = d[i].Round(time.Microsecond)
	}
	return out
}

// throughput runs workers and an add loop until every task was completed (the workers'
// Stop returns after every completion is acknowledged by the service).
func throughput(cfg config, s *serverProc, total int, idPrefix string, add func(ctx context.Context, c *client.Client, next func() int) error, adders int) error {
	c, err := startAndDial(s)
	if err != nil {
		return err
	}
	defer c.Close()
	var executed atomic.Int64
	// ran[i] marks task number i (the id's numeric suffix) as executed, so a stalled run
	// can tell which tasks are missing and ask the service what became of them.
	ran := make([]atomic.Bool, total)
	wlog, wlogs := countingLogger()
	allDone := make(chan struct{})
	var workers []*worker.Worker
	dispatch, _ := cfg.workerDispatch() // checked in run
	for i := 0; i < cfg.workers; i++ {
		w, err := worker.New(c, worker.Options{
			Queue: "tput", Slots: cfg.workerSlots, Pollers: 4, MaxTasksPerPoll: 1000,
			CompletionSenders: 4, Identity: fmt.Sprintf("bench-%d", i), Logger: wlog, Dispatch: dispatch,
		})
		if err != nil {
			return err
		}
		w.Register("t", func(_ context.Context, t *worker.Task) ([]byte, error) {
			if n, ok := taskNumber(t.ID); ok && n < total {
				ran[n].Store(true)
			}
			if executed.Add(1) == int64(total) {
				close(allDone)
			}
			return nil, nil
		})
		workers = append(workers, w)
	}
	for _, w := range workers {
		if err := w.Start(); err != nil {
			return err
		}
	}
	time.Sleep(200 * time.Millisecond)

	var cpuBefore, cpuAfter float64
	cpuBefore = processCPU(s)
	selfBefore := cpuSeconds(os.Getpid())
	var next atomic.Int64
	nextFn := func() int { return int(next.Add(1) - 1) }
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, adders)
	for i := 0; i < adders; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := add(ctx, c, nextFn); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	addsDone := time.Since(start)
	select {
	case err := <-errs:
		return err
	default:
	}
	// Fail early when executions stop advancing, with the queue's state for diagnosis.
	for last, stalled := int64(-1), 0; ; {
		select {
		case <-allDone:
		case <-time.After(5 * time.Second):
			n := executed.Load()
			if n != last {
				last, stalled = n, 0
				continue
			}
			if stalled++; stalled < 6 {
				continue
			}
			desc := "(describe failed)"
			dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
			if d, err := c.DescribeQueue(dctx, "tput"); err == nil {
				desc = fmt.Sprintf("%+v", *d)
			}
			dcancel()
			return fmt.Errorf("only %d of %d tasks executed, none for 30s; queue: %s; missing tasks: %s; worker log: %s",
				n, total, desc, missingTasks(c, ran, idPrefix), wlogs())
		}
		break
	}
	sctx, scancel := context.WithTimeout(context.Background(), time.Minute)
	defer scancel()
	for _, w := range workers {
		if err := w.Stop(sctx); err != nil {
			return err
		}
	}
	elapsed := time.Since(start)
	cpuAfter = processCPU(s)
	selfCPU := cpuSeconds(os.Getpid()) - selfBefore
	fmt.Printf("%d tasks added in %v (%.0f adds/s); all completed after %v: %.0f tasks/s end to end; CPU: server %.2f cores, driver (adders+workers) %.2f cores\n",
		total, addsDone.Round(time.Millisecond), float64(total)/addsDone.Seconds(), elapsed.Round(time.Millisecond),
		float64(total)/elapsed.Seconds(), (cpuAfter-cpuBefore)/elapsed.Seconds(), selfCPU/elapsed.Seconds())
	return nil
}

func benchSingle(cfg config, s *serverProc) error {
	total := cfg.singleTasks
	fmt.Printf("%d concurrent AddTask callers, %d workers x %d slots (SDK, completions batched)\n", cfg.singleAdders, cfg.workers, cfg.workerSlots)
	return throughput(cfg, s, total, "s-", func(ctx context.Context, c *client.Client, next func() int) error {
		for {
			i := next()
			if i >= total {
				return nil
			}
			if _, err := c.AddTask(ctx, client.Task{Queue: "tput", Type: "t", ID: "s-" + strconv.Itoa(i)}); err != nil {
				return err
			}
		}
	}, cfg.singleAdders)
}

func benchBatched(cfg config, s *serverProc) error {
	total := cfg.batchedTasks
	fmt.Printf("%d concurrent AddTasks callers x %d tasks per call, %d workers x %d slots\n", cfg.batchAdders, cfg.batchSize, cfg.workers, cfg.workerSlots)
	return throughput(cfg, s, total, "b-", func(ctx context.Context, c *client.Client, next func() int) error {
		batch := make([]client.Task, 0, cfg.batchSize)
		for {
			batch = batch[:0]
			for len(batch) < cfg.batchSize {
				i := next()
				if i >= total {
					break
				}
				batch = append(batch, client.Task{Queue: "tput", Type: "t", ID: "b-" + strconv.Itoa(i)})
			}
			if len(batch) == 0 {
				return nil
			}
			if _, err := c.AddTasks(ctx, batch); err != nil {
				return err
			}
		}
	}, cfg.batchAdders)
}

// benchMemory loads N queues and measures the service's memory per queue twice: with one
// buffered task in each, and idle (the task taken by a poll and completed, so the queue
// stays loaded with its poller record until the idle timeout unloads it). In process mode
// it measures the server process's RSS (an upper bound: it includes Go heap slack and
// Pebble's memtable); with -inprocess it measures the Go heap in use after a GC.
func benchMemory(cfg config, s *serverProc) error {
	c, err := startAndDial(s)
	if err != nil {
		return err
	}
	defer c.Close()
	measure := func() (int64, error) {
		if s.inProcess {
			runtime.GC()
			runtime.GC()
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			return int64(m.HeapInuse), nil
		}
		time.Sleep(time.Second)
		return s.rssBytes()
	}
	what := "server RSS"
	if s.inProcess {
		what = "Go heap in use (in process, after GC)"
	}
	time.Sleep(500 * time.Millisecond)
	before, err := measure()
	if err != nil {
		return err
	}
	n := cfg.queues
	queue := func(i int) string { return fmt.Sprintf("q-%06d", i) }
	batch := make([]client.Task, 0, 1000)
	start := time.Now()
	for i := 0; i < n; i++ {
		batch = append(batch, client.Task{Queue: queue(i), Type: "t", ID: fmt.Sprintf("m-%d", i)})
		if len(batch) == cap(batch) || i == n-1 {
			if _, err := c.AddTasks(context.Background(), batch); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	touched := time.Since(start)
	loaded, err := measure()
	if err != nil {
		return err
	}
	fmt.Printf("%d queues with one buffered task each (added in %v): %s %.1f MiB -> %.1f MiB: %.0f bytes per queue\n",
		n, touched.Round(time.Millisecond), what, mib(before), mib(loaded), float64(loaded-before)/float64(n))

	// Take and complete each queue's task: the queues stay loaded, now idle.
	start = time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Int64
	for g := 0; g < 32; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				resp, err := c.Service().PollTasks(ctx, &matchingv1.PollTasksRequest{
					Namespace: "bench", Queue: queue(i), WorkerIdentity: "mem-poller", MaxTasks: 1, TaskTypes: []string{"t"},
				})
				cancel()
				if err != nil || len(resp.GetTasks()) != 1 {
					failed.Add(1)
					continue
				}
				t := resp.GetTasks()[0]
				if _, err := c.Service().CompleteTask(context.Background(), &matchingv1.CompleteTaskRequest{
					Namespace: "bench", TaskId: t.GetTaskId(), LeaseId: t.GetLeaseId(), WorkerIdentity: "mem-poller",
				}); err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	drained := time.Since(start)
	idle, err := measure()
	if err != nil {
		return err
	}
	if err := writeHeapProfile(cfg.memProfile); err != nil {
		return err
	}
	fmt.Printf("the same %d queues idle (task polled and completed in %v, %d failures; queues stay loaded until the idle timeout): %s %.1f MiB: %.0f bytes per idle loaded queue\n",
		n, drained.Round(time.Millisecond), failed.Load(), what, mib(idle), float64(idle-before)/float64(n))
	return nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// benchRestart fills a backlog, kills the server (SIGKILL, no clean shutdown), restarts
// it on the same data dir, and measures process start -> first task received by a poller
// that keeps retrying from before the start.
func benchRestart(cfg config, s *serverProc) error {
	c, err := startAndDial(s)
	if err != nil {
		return err
	}
	defer c.Close()
	n := cfg.restartTasks
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			batch := make([]client.Task, 0, 1000)
			for {
				batch = batch[:0]
				for len(batch) < 1000 {
					i := int(next.Add(1) - 1)
					if i >= n {
						break
					}
					batch = append(batch, client.Task{Queue: "restart", Type: "t", ID: "r-" + strconv.Itoa(i), Priority: 1 + i%5})
				}
				if len(batch) == 0 {
					return
				}
				if _, err := c.AddTasks(context.Background(), batch); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	fmt.Printf("backlog of %d tasks added in %v\n", n, time.Since(start).Round(time.Millisecond))
	s.kill()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	first := make(chan time.Time, 1)
	go func() {
		for ctx.Err() == nil {
			pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
			resp, err := c.Service().PollTasks(pctx, &matchingv1.PollTasksRequest{
				Namespace: "bench", Queue: "restart", WorkerIdentity: "restart-poller", MaxTasks: 1, TaskTypes: []string{"t"},
			})
			pcancel()
			if err == nil && len(resp.GetTasks()) > 0 {
				first <- time.Now()
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	if err := s.start(); err != nil {
		return err
	}
	var firstAt time.Time
	select {
	case firstAt = <-first:
	case <-ctx.Done():
		return fmt.Errorf("no dispatch within 5 minutes of restart")
	}
	ready := firstAt.Sub(s.startedAt())
	d, err := c.DescribeQueue(context.Background(), "restart")
	if err != nil {
		return err
	}
	fmt.Printf("restart after SIGKILL with %d tasks in backlog: first dispatch %v after process start (backlog now %d)\n",
		n, ready.Round(time.Millisecond), d.BacklogCount())
	return nil
}

// processCPU is the server's user+system CPU seconds so far.
func processCPU(s *serverProc) float64 {
	if s.inProcess {
		return 0 // counted in the driver's own CPU
	}
	return cpuSeconds(s.proc.Pid())
}
