// Command testworker is a worker process for the end-to-end tests of the matching service.
// It is configured like a real worker pod, through the operator's environment contract
// (TASKROUTE_ADDRESS, _NAMESPACE, _QUEUE, _SLOTS, _TASKS_PER_SECOND, _WORKER_ID), plus:
//
//	TESTWORKER_TYPES     task types to register (comma-separated; default "echo")
//	TESTWORKER_LOG       file that gets one line per handler execution: "<unix-nanos> <id> <attempt>"
//	TESTWORKER_SHUTDOWN  graceful-shutdown grace period on SIGTERM (default 5s)
//	TESTWORKER_FAST      when "1", sleep returns at once (a second worker finishing released tasks)
//
// Handlers:
//
//	echo      returns the payload
//	sleep     sleeps for the payload's duration ("250ms"), honouring cancellation
//	progress  on a first attempt heartbeats "step-1".."step-3" then waits until killed or
//	          cancelled; on a retry returns "resumed:<last details>"
//	block     waits until its context ends (cancellation, shutdown)
//	whereami  returns the requirements that route a follow-up to this host and to this
//	          process: "<host>\n<process>" (Task.SameHost, Task.SameProcess)
//	session   returns "<session id>\n<process>" (Task.SessionID, Task.SameProcess)
package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr/funcr"

	"github.com/taskroute/taskroute/pkg/client"
	"github.com/taskroute/taskroute/pkg/worker"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "testworker:", err)
		os.Exit(1)
	}
}

func run() error {
	w, err := newWorker()
	if err != nil {
		return err
	}
	log, err := openLog(os.Getenv("TESTWORKER_LOG"))
	if err != nil {
		return err
	}
	defer log.close()
	all := handlers(log, os.Getenv("TESTWORKER_FAST") == "1")
	types := os.Getenv("TESTWORKER_TYPES")
	if types == "" {
		types = "echo"
	}
	for _, name := range strings.Split(types, ",") {
		h, ok := all[name]
		if !ok {
			return fmt.Errorf("TESTWORKER_TYPES: unknown handler %q", name)
		}
		w.Register(name, h)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	fmt.Fprintln(os.Stderr, "testworker: started", w.Identity())
	return w.Run(ctx)
}

// newWorker configures a worker from the environment, as a worker pod's would be.
func newWorker() (*worker.Worker, error) {
	grace := 5 * time.Second
	if v := os.Getenv("TESTWORKER_SHUTDOWN"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return nil, fmt.Errorf("TESTWORKER_SHUTDOWN: %w", err)
		}
		grace = d
	}
	return worker.FromEnvironment(func(o *worker.Options) {
		o.ShutdownTimeout = grace
		o.PollTimeout = 20 * time.Second
		o.Pollers = min(o.Slots, 4)
		o.Logger = funcr.New(func(prefix, args string) { fmt.Fprintln(os.Stderr, prefix, args) }, funcr.Options{})
	})
}

// handlers are the task types the tests use (see the package comment); each records its
// execution in log first. fast makes sleep return at once.
func handlers(log *execLog, fast bool) map[string]worker.Handler {
	return map[string]worker.Handler{
		"echo": func(_ context.Context, t *worker.Task) ([]byte, error) {
			log.record(t)
			return t.Payload, nil
		},
		"whereami": func(_ context.Context, t *worker.Task) ([]byte, error) {
			log.record(t)
			return []byte(t.SameHost()[client.CapabilityHost] + "\n" + t.SameProcess()[client.CapabilityProcess]), nil
		},
		"session": func(_ context.Context, t *worker.Task) ([]byte, error) {
			log.record(t)
			return []byte(t.SessionID + "\n" + t.SameProcess()[client.CapabilityProcess]), nil
		},
		"sleep": func(ctx context.Context, t *worker.Task) ([]byte, error) {
			log.record(t)
			d, err := time.ParseDuration(string(t.Payload))
			if err != nil {
				return nil, worker.NonRetryable(fmt.Errorf("payload: %w", err))
			}
			if fast {
				d = 0
			}
			select {
			case <-time.After(d):
				return []byte("slept"), nil
			case <-ctx.Done():
				return nil, context.Cause(ctx)
			}
		},
		"progress": func(ctx context.Context, t *worker.Task) ([]byte, error) {
			log.record(t)
			if len(t.HeartbeatDetails) > 0 {
				return []byte("resumed:" + string(t.HeartbeatDetails)), nil
			}
			for i := 1; i <= 3; i++ {
				if err := t.Heartbeat(ctx, []byte(fmt.Sprintf("step-%d", i))); err != nil {
					return nil, err
				}
				time.Sleep(100 * time.Millisecond)
			}
			<-ctx.Done()
			return nil, context.Cause(ctx)
		},
		"block": func(ctx context.Context, t *worker.Task) ([]byte, error) {
			log.record(t)
			<-ctx.Done()
			return nil, context.Cause(ctx)
		},
	}
}

// execLog records executions; it flushes often so a SIGKILL loses at most a few lines.
type execLog struct {
	mu   sync.Mutex
	f    *os.File
	w    *bufio.Writer
	done chan struct{}
}

func openLog(path string) (*execLog, error) {
	l := &execLog{done: make(chan struct{})}
	if path == "" {
		return l, nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	l.f, l.w = f, bufio.NewWriterSize(f, 1<<16)
	go func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				l.mu.Lock()
				_ = l.w.Flush()
				l.mu.Unlock()
			case <-l.done:
				return
			}
		}
	}()
	return l, nil
}

func (l *execLog) record(t *worker.Task) {
	if l.w == nil {
		return
	}
	at := time.Now().UnixNano() // the handler's start, not when the flusher let go of the lock
	l.mu.Lock()
	fmt.Fprintf(l.w, "%d %s %d\n", at, t.ID, t.Attempt)
	l.mu.Unlock()
}

func (l *execLog) close() {
	if l.w == nil {
		return
	}
	close(l.done)
	l.mu.Lock()
	_ = l.w.Flush()
	_ = l.f.Close()
	l.mu.Unlock()
}
