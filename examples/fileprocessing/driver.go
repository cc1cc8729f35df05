package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/taskroute/taskroute/pkg/client"
)

// errorTypeTargetWorkerLost is how the service fails a task routed to a host whose
// workers are all gone.
const errorTypeTargetWorkerLost = "TargetWorkerLost"

// Every step heartbeats (automatically), so a step on a killed worker times out quickly
// and is retried: a download on another host, a routed step into the lost host's
// partition, where the service fails it with TargetWorkerLost.
var stepDefaults = client.Task{
	StartToCloseTimeout: time.Minute,
	HeartbeatTimeout:    time.Second,
	Retry:               &client.RetryPolicy{InitialInterval: 100 * time.Millisecond, MaximumAttempts: 10},
}

// fileResult is how one file's flow ended.
type fileResult struct {
	name     string
	host     string // where it was processed and uploaded
	restarts int
	err      error
}

// flow runs the files of one driver run, printing a line per restart and per file.
type flow struct {
	c   *client.Client
	o   driverOptions
	mu  sync.Mutex
	out io.Writer
}

func runDriver(ctx context.Context, o driverOptions, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	c, err := o.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	f := &flow{c: c, o: o, out: out}
	results := f.runAll(ctx)
	return f.summarize(results)
}

// runAll runs every file, at most o.Parallel at once.
func (f *flow) runAll(ctx context.Context) []fileResult {
	results := make([]fileResult, f.o.Files)
	sem := make(chan struct{}, max(f.o.Parallel, 1))
	var wg sync.WaitGroup
	for i := range f.o.Files {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			results[i] = f.runFile(ctx, fmt.Sprintf("file-%03d", i))
		}()
	}
	wg.Wait()
	return results
}

// runFile downloads the file anywhere, then processes and uploads it on that host; when
// the host is lost it starts over from the download.
func (f *flow) runFile(ctx context.Context, name string) fileResult {
	res := fileResult{name: name}
	for try := 0; try <= f.o.MaxRestarts; try++ {
		host, lost, err := f.tryFile(ctx, name, try)
		if err != nil {
			res.err = err
			return res
		}
		if lost == nil {
			res.host = host
			f.printf("uploaded %s on %s restarts=%d\n", name, host, res.restarts)
			return res
		}
		res.restarts++
		f.printf("restarted %s from download: %s on %s failed %s at %s\n",
			name, lost.Type, host, errorTypeTargetWorkerLost, closedTime(lost))
	}
	res.err = fmt.Errorf("%s: host lost %d times, giving up", name, res.restarts)
	return res
}

// tryFile runs the three steps once. It returns the host and, when a routed step failed
// with TargetWorkerLost, that step's task.
func (f *flow) tryFile(ctx context.Context, name string, try int) (string, *client.TaskInfo, error) {
	dl, err := f.step(ctx, name, try, typeDownload, nil)
	if err != nil {
		return "", nil, err
	}
	req, err := requirementFrom(dl.Result)
	if err != nil {
		return "", nil, err
	}
	host := req[client.CapabilityHost]
	for _, typ := range []string{typeProcess, typeUpload} {
		info, err := f.step(ctx, name, try, typ, req)
		if err != nil {
			return host, nil, err
		}
		if info.State != client.StateCompleted {
			return host, info, nil
		}
	}
	return host, nil, nil
}

// step adds one step and waits for its outcome. A completed task, or one that failed with
// TargetWorkerLost, is returned; any other outcome is an error.
func (f *flow) step(ctx context.Context, name string, try int, typ string, req client.Capabilities) (*client.TaskInfo, error) {
	t := stepDefaults
	t.ID = fmt.Sprintf("%s-%s-%d-%s", f.o.Prefix, name, try, typ)
	t.Queue, t.Type, t.Payload, t.Requires = f.o.Queue, typ, []byte(name), req
	if _, err := f.c.AddTask(ctx, t); err != nil {
		return nil, fmt.Errorf("adding %s: %w", t.ID, err)
	}
	info, err := f.c.WaitForResult(ctx, t.ID)
	if err != nil {
		return nil, fmt.Errorf("waiting for %s: %w", t.ID, err)
	}
	switch {
	case info.State == client.StateCompleted:
		return info, nil
	case info.State == client.StateFailed && info.Failure != nil && info.Failure.ErrorType == errorTypeTargetWorkerLost && req != nil:
		return info, nil
	default:
		return nil, fmt.Errorf("%s ended %s: %+v", t.ID, info.State, info.Failure)
	}
}

func (f *flow) summarize(results []fileResult) error {
	uploaded, restarts, failed := 0, 0, 0
	for _, r := range results {
		restarts += r.restarts
		if r.err != nil {
			failed++
			f.printf("failed %s: %v\n", r.name, r.err)
			continue
		}
		uploaded++
	}
	f.printf("summary: files=%d uploaded-once=%d failed=%d restarts=%d\n", len(results), uploaded, failed, restarts)
	if failed > 0 {
		return fmt.Errorf("%d of %d files failed", failed, len(results))
	}
	return nil
}

func (f *flow) printf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fmt.Fprintf(f.out, format, args...)
}

func closedTime(info *client.TaskInfo) string {
	if info.ClosedTime == nil {
		return "?"
	}
	return info.ClosedTime.UTC().Format(time.RFC3339Nano)
}
