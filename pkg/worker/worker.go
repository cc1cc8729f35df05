// Package worker runs task handlers for a taskroute queue: it asks the matching service for
// tasks only for free slots (by default over one WorkerStream, granting a credit per free
// slot; Options.Dispatch), holds itself to a declared start rate, heartbeats running
// tasks, reports results in batches, and shuts down gracefully.
//
// A Worker polls exactly one queue (Options.Queue) of one kind (Options.Kind). A process
// that serves several queues runs one Worker per queue; they may share one client.Client
// (see the example of New).
//
// A worker in a pod made by a WorkerPool is configured by the operator through the
// environment (package workerenv); FromEnvironment reads it (the Example, in full):
//
//	w, err := worker.FromEnvironment(nil)
//	if err != nil {
//		log.Fatal(err)
//	}
//	w.Register("resize", resize)
//	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
//	defer stop()
//	if err := w.Run(ctx); err != nil { // until SIGTERM, then a graceful Stop
//		log.Fatal(err)
//	}
package worker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/pkg/client"
	"github.com/taskroute/taskroute/pkg/workerenv"
)

// Handler runs one attempt of a task and returns its result. A returned error fails the
// attempt: retryably, unless it is marked with NonRetryable (or is a non-retryable *Error).
// ctx ends at the start-to-close timeout, when cancellation is requested (cause
// ErrCancelRequested), when the lease is lost, or when a graceful shutdown runs out of time.
type Handler func(ctx context.Context, task *Task) ([]byte, error)

// Options configure a Worker. Only Queue is required.
type Options struct {
	// Queue to poll (required). A Worker polls this one queue only.
	Queue string
	// Kind of tasks to poll; "" means Activity.
	Kind client.Kind
	// Identity names this worker process in the service's poller list. Default: the pod
	// name (TASKROUTE_WORKER_ID) or the host name, plus a per-process nonce.
	Identity string
	// Pool and Version are reported in polls (WorkerPool name and build id).
	Pool    string
	Version string
	// Slots is the most tasks run at once (default 1). The worker polls only with free
	// slots, so it is never handed more than it can start.
	Slots int
	// TasksPerSecond caps how fast this worker starts tasks; 0 means no cap. The service
	// holds the worker to it too.
	TasksPerSecond float64
	// Dispatch selects how the worker gets tasks and reports results: DispatchStream (the
	// default) or DispatchPoll.
	Dispatch Dispatch
	// Pollers is the number of concurrent long polls of DispatchPoll (default
	// min(Slots, 2)).
	Pollers int
	// MaxTasksPerPoll caps how many free slots one poll, or one credit message of the
	// stream, asks to fill (default 100, at most 1000).
	MaxTasksPerPoll int
	// Priorities served; empty means all levels.
	Priorities []int
	// Sessions is the most sessions (client.CreateSession) bound to this worker process at
	// once; 0 (the default) takes none. In a WorkerPool it comes from limits.sessions
	// through TASKROUTE_SESSIONS. At most 10000.
	Sessions int
	// Capabilities this worker advertises: it is given tasks that require nothing and
	// tasks whose requirements these meet (see client.Capabilities). In a WorkerPool they
	// come from spec.capabilities through TASKROUTE_CAPABILITIES. The worker adds its host
	// and process (client.CapabilityHost, CapabilityProcess) itself.
	Capabilities client.Capabilities
	// Host is the host the worker advertises for host routing (Task.SameHost). Default:
	// the node name (TASKROUTE_NODE_NAME) in a WorkerPool, otherwise the host name.
	Host string
	// PollTimeout is the deadline of one long poll of DispatchPoll (default 60s); the
	// service answers empty shortly before it when nothing comes.
	PollTimeout time.Duration
	// CallTimeout bounds every other call (default 10s).
	CallTimeout time.Duration
	// HeartbeatFraction of a task's heartbeat timeout is the interval of automatic
	// heartbeats (default 0.5).
	HeartbeatFraction float64
	// CompletionLinger is how long a completion may wait for others to share its call
	// (default 0: completions that pile up while a call is in flight share the next one,
	// and a lone completion goes out at once).
	CompletionLinger time.Duration
	// MaxCompletionBatch caps one CompleteTasks call (default and maximum 1000).
	MaxCompletionBatch int
	// CompletionSenders is the number of completion calls in flight at once (default 2).
	CompletionSenders int
	// ReportRetryTimeout bounds how long a result is retried while the service is
	// unreachable (default 2m); it covers a restart of the service.
	ReportRetryTimeout time.Duration
	// ShutdownTimeout is Run's grace period for running tasks (default 30s).
	ShutdownTimeout time.Duration
	// Logger; default discards.
	Logger logr.Logger
}

// Worker polls exactly one queue (of one kind) and runs registered handlers; serve
// several queues with one Worker each. Create it with New or FromEnvironment, Register
// handlers, then Start (or Run) and finally Stop.
type Worker struct {
	client   *client.Client
	rpc      matchingv1.MatchingServiceClient
	ownsConn bool
	opts     Options
	identity string
	log      logr.Logger

	capabilities []*matchingv1.Capability // opts.Capabilities, host and process, in every poll
	processID    string
	stopLiveness func() // set by Start

	mu       sync.RWMutex
	handlers map[string]Handler
	started  bool
	stopped  bool

	slots   chan struct{}
	limiter *bucket

	// pollCtx ends when Stop begins: no new polls. The poll calls themselves run on
	// callCtx, which Stop cancels only when the service cannot return them (see Stop):
	// cancelling a poll whose answer is already on its way loses the answer.
	pollCtx    context.Context
	pollCancel context.CancelFunc
	callCtx    context.Context
	callCancel context.CancelFunc
	pollWG     sync.WaitGroup
	taskWG     sync.WaitGroup

	executors *executors // run delivered tasks
	completer *completer // DispatchPoll
	stream    *streamer  // DispatchStream
}

// New makes a worker that uses c (its connection and namespace).
func New(c *client.Client, opts Options) (*Worker, error) {
	if c == nil {
		return nil, errors.New("worker: client must not be nil")
	}
	if opts.Queue == "" {
		return nil, errors.New("worker: Options.Queue must not be empty")
	}
	if opts.Sessions < 0 || opts.Sessions > maxSessions {
		return nil, fmt.Errorf("worker: Options.Sessions must be 0..%d, got %d", maxSessions, opts.Sessions)
	}
	if opts.Slots < 0 || opts.Pollers < 0 || opts.MaxTasksPerPoll < 0 || opts.TasksPerSecond < 0 ||
		math.IsNaN(opts.TasksPerSecond) || math.IsInf(opts.TasksPerSecond, 0) {
		return nil, errors.New("worker: Slots, Pollers, MaxTasksPerPoll and TasksPerSecond must not be negative")
	}
	if opts.Dispatch != DispatchStream && opts.Dispatch != DispatchPoll {
		return nil, fmt.Errorf("worker: Options.Dispatch: unknown dispatch %d", opts.Dispatch)
	}
	if _, ok := client.ParseKind(string(opts.Kind)); !ok {
		return nil, fmt.Errorf("worker: Options.Kind: unknown kind %q", opts.Kind)
	}
	setDefaults(&opts)
	processID := newProcessID()
	caps, err := routingCapabilities(&opts, processID)
	if err != nil {
		return nil, err
	}
	w := &Worker{
		client:       c,
		rpc:          c.Service(),
		opts:         opts,
		identity:     opts.Identity,
		log:          opts.Logger,
		handlers:     map[string]Handler{},
		slots:        make(chan struct{}, opts.Slots),
		capabilities: caps.Proto(),
		processID:    processID,
	}
	if opts.TasksPerSecond > 0 {
		w.limiter = newBucket(opts.TasksPerSecond, time.Now())
	}
	return w, nil
}

func setDefaults(o *Options) {
	if o.Kind == "" {
		o.Kind = client.Activity
	}
	if o.Slots == 0 {
		o.Slots = 1
	}
	if o.Pollers == 0 {
		o.Pollers = min(o.Slots, 2)
	}
	if o.MaxTasksPerPoll == 0 {
		o.MaxTasksPerPoll = 100
	}
	o.MaxTasksPerPoll = min(o.MaxTasksPerPoll, 1000, o.Slots)
	if o.PollTimeout == 0 {
		o.PollTimeout = 60 * time.Second
	}
	if o.CallTimeout == 0 {
		o.CallTimeout = 10 * time.Second
	}
	if o.HeartbeatFraction <= 0 || o.HeartbeatFraction >= 1 {
		o.HeartbeatFraction = 0.5
	}
	if o.MaxCompletionBatch <= 0 || o.MaxCompletionBatch > 1000 {
		o.MaxCompletionBatch = 1000
	}
	if o.CompletionSenders <= 0 {
		o.CompletionSenders = 2
	}
	if o.ReportRetryTimeout == 0 {
		o.ReportRetryTimeout = 2 * time.Minute
	}
	if o.ShutdownTimeout == 0 {
		o.ShutdownTimeout = 30 * time.Second
	}
	if o.Logger.GetSink() == nil {
		o.Logger = logr.Discard()
	}
	if o.Identity == "" {
		o.Identity = DefaultIdentity()
	}
	if o.Host == "" {
		o.Host = defaultHost()
	}
}

// DefaultIdentity is TASKROUTE_WORKER_ID (the pod name) or the host name, followed by a
// nonce that tells apart processes of one pod and restarts of one process.
func DefaultIdentity() string {
	base := os.Getenv(workerenv.WorkerID)
	if base == "" {
		base, _ = os.Hostname()
	}
	if base == "" {
		base = "worker"
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return base + "-" + hex.EncodeToString(b[:])
}

// FromEnvironment makes a worker configured by the operator's environment contract
// (TASKROUTE_ADDRESS, _NAMESPACE, _QUEUE, _POOL, _VERSION, _SLOTS, _TASKS_PER_SECOND,
// _PRIORITIES, _WORKER_ID). It dials the service with the pod's credentials
// (client.WithEnvironmentCredentials: the projected token of TASKROUTE_TOKEN_FILE, TLS
// verified against TASKROUTE_CA_FILE; plaintext, without the token, only with
// TASKROUTE_INSECURE=true); Stop closes that connection. tune, if given, adjusts the
// Options before use; nil keeps them as the environment gave them.
func FromEnvironment(tune func(*Options), clientOpts ...client.Option) (*Worker, error) {
	env, err := workerenv.FromEnvironment()
	if err != nil {
		return nil, err
	}
	if env.Address == "" {
		return nil, fmt.Errorf("%s must be set", workerenv.Address)
	}
	if env.Queue == "" {
		return nil, fmt.Errorf("%s must be set", workerenv.Queue)
	}
	opts := Options{
		Queue:          env.Queue,
		Pool:           env.Pool,
		Version:        env.Version,
		Slots:          env.Slots,
		TasksPerSecond: env.TasksPerSecond,
		Priorities:     env.Priorities,
		Sessions:       env.Sessions,
		Capabilities:   env.Capabilities,
		Host:           env.NodeName,
	}
	if tune != nil {
		tune(&opts)
	}
	clientOpts = append([]client.Option{client.WithEnvironmentCredentials()}, clientOpts...)
	if env.Namespace != "" {
		clientOpts = append([]client.Option{client.WithNamespace(env.Namespace)}, clientOpts...)
	}
	c, err := client.Dial(context.Background(), env.Address, clientOpts...)
	if err != nil {
		return nil, err
	}
	w, err := New(c, opts)
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	w.ownsConn = true
	return w, nil
}

// Identity is this worker's identity in polls and reports.
func (w *Worker) Identity() string { return w.identity }

// Client is the client the worker uses.
func (w *Worker) Client() *client.Client { return w.client }

// Register sets the handler of a task type. Register before Start so the first poll
// advertises every type; a later Register takes effect from the next poll.
func (w *Worker) Register(taskType string, h Handler) {
	if taskType == "" || h == nil {
		panic("worker: Register needs a task type and a handler")
	}
	w.mu.Lock()
	w.handlers[taskType] = h
	w.mu.Unlock()
}

func (w *Worker) taskTypes() []string {
	w.mu.RLock()
	types := make([]string, 0, len(w.handlers))
	for t := range w.handlers {
		types = append(types, t)
	}
	w.mu.RUnlock()
	sort.Strings(types)
	return types
}

func (w *Worker) handler(taskType string) Handler {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.handlers[taskType]
}

func (w *Worker) callTimeout() time.Duration { return w.opts.CallTimeout }

// heartbeatInterval is the automatic heartbeat interval of t; 0 when t has no heartbeat
// timeout.
func (w *Worker) heartbeatInterval(t *Task) time.Duration {
	if t.HeartbeatTimeout <= 0 {
		return 0
	}
	return time.Duration(float64(t.HeartbeatTimeout) * w.opts.HeartbeatFraction)
}

// Start begins polling. It returns at once; call Stop to end.
func (w *Worker) Start() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started {
		return errors.New("worker: already started")
	}
	w.started = true
	w.pollCtx, w.pollCancel = context.WithCancel(context.Background())
	w.callCtx, w.callCancel = context.WithCancel(context.Background())
	w.executors = newExecutors(w)
	if w.opts.Dispatch == DispatchStream {
		w.stream = startStreamer(w)
	} else {
		w.completer = newCompleter(w)
		for i := 0; i < w.opts.Pollers; i++ {
			w.pollWG.Add(1)
			go w.pollLoop()
		}
	}
	w.startLiveness()
	w.log.Info("Started worker", "queue", w.opts.Queue, "identity", w.identity,
		"slots", w.opts.Slots, "tasksPerSecond", w.opts.TasksPerSecond, "dispatch", w.opts.Dispatch.String())
	return nil
}

// Run starts the worker, waits for ctx to end, then stops gracefully within
// Options.ShutdownTimeout.
func (w *Worker) Run(ctx context.Context) error {
	if err := w.Start(); err != nil {
		return err
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), w.opts.ShutdownTimeout)
	defer cancel()
	return w.Stop(sctx)
}

// Stop shuts down gracefully: it stops polling (ShutdownWorker makes the service return
// this worker's waiting polls at once; their calls are not cancelled, so no answer is
// lost on its way), runs what those polls delivered, lets running tasks finish until ctx
// ends, then cancels the rest (cause ErrWorkerStopping) and hands them back to the queue
// with ReleaseTask, so another worker runs them at once and nothing is lost. It returns
// after every result that was reached has been reported.
func (w *Worker) Stop(ctx context.Context) error {
	w.mu.Lock()
	if !w.started || w.stopped {
		w.mu.Unlock()
		return nil
	}
	w.stopped = true
	w.mu.Unlock()

	w.pollCancel()
	w.endPolls(ctx)
	defer w.callCancel()

	done := make(chan struct{})
	go func() { w.taskWG.Wait(); close(done) }()
	var released int
	select {
	case <-done:
	case <-ctx.Done():
		released = w.releaseRunning()
		// Handlers were cancelled; give them a moment to return before reporting is
		// closed, but do not wait for handlers that ignore their context.
		select {
		case <-done:
		case <-time.After(time.Second):
		}
	}
	if w.stream != nil {
		w.stream.close(ctx)
	} else {
		w.completer.close()
	}
	w.executors.close() // no task is delivered any more
	w.stopLiveness()
	w.log.Info("Stopped worker", "identity", w.identity, "released", released)
	if w.ownsConn {
		return w.client.Close()
	}
	return nil
}

// releaseRunning hands every still-running task back to the queue.
func (w *Worker) releaseRunning() int {
	tasks := w.executors.running()
	var wg sync.WaitGroup
	n := 0
	for _, t := range tasks {
		if !t.phase.CompareAndSwap(phaseRunning, phaseReleased) {
			continue // its outcome is being reported
		}
		n++
		t.cancel(ErrWorkerStopping)
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.release(t)
		}()
	}
	wg.Wait()
	return n
}

func (w *Worker) release(t *Task) {
	ctx, cancel := context.WithTimeout(context.Background(), w.opts.CallTimeout)
	defer cancel()
	_, err := w.rpc.ReleaseTask(ctx, &matchingv1.ReleaseTaskRequest{
		Namespace: t.Namespace, TaskId: t.ID, LeaseId: t.LeaseID, WorkerIdentity: w.identity,
	})
	if err != nil {
		w.log.Error(err, "Failed to release task; it runs again after its timeout", "taskID", t.ID)
		return
	}
	w.log.V(1).Info("Released task", "taskID", t.ID)
}

// pollLoop polls while the worker has free slots and rate tokens.
func (w *Worker) pollLoop() {
	defer w.pollWG.Done()
	backoff := newBackoff()
	for w.pollCtx.Err() == nil {
		n, ok := w.acquireSlots(w.pollCtx)
		if !ok {
			return
		}
		n, ok = w.acquireTokens(w.pollCtx, n)
		if !ok {
			return
		}
		tasks, err := w.poll(n)
		if unused := n - len(tasks); unused > 0 {
			w.releaseSlots(unused)
			if w.limiter != nil {
				w.limiter.giveBack(unused)
			}
		}
		if err != nil {
			if w.pollCtx.Err() != nil {
				return
			}
			d := backoff.next()
			if client.IsRetryable(err) {
				w.log.V(1).Info("Poll failed", "queue", w.opts.Queue, "error", err.Error(), "retryIn", d)
			} else {
				// A refused poll (bad queue name, no permission) will not fix itself: say so.
				w.log.Error(err, "Poll refused", "queue", w.opts.Queue, "retryIn", d)
			}
			if !sleepCtx(w.pollCtx, d) {
				return
			}
			continue
		}
		backoff.reset()
		// Tasks delivered while Stop runs are run too (Stop drains or releases them).
		for i, p := range tasks {
			if i >= n {
				// The service never sends more than asked; hand back any surplus.
				w.release(newTask(w, p))
				continue
			}
			w.taskWG.Add(1)
			w.executors.run(newTask(w, p))
		}
	}
}

// acquireSlots waits for one free slot and takes up to MaxTasksPerPoll free ones, unless
// ctx ends first.
func (w *Worker) acquireSlots(ctx context.Context) (int, bool) {
	select {
	case w.slots <- struct{}{}:
	case <-ctx.Done():
		return 0, false
	}
	return 1 + w.moreFreeSlots(), true
}

// moreFreeSlots takes the free slots there are after a first one, up to MaxTasksPerPoll in
// all.
func (w *Worker) moreFreeSlots() int {
	n := 0
	for n+1 < w.opts.MaxTasksPerPoll {
		select {
		case w.slots <- struct{}{}:
			n++
			continue
		default:
		}
		break
	}
	return n
}

func (w *Worker) releaseSlots(n int) {
	for i := 0; i < n; i++ {
		<-w.slots
	}
}

// acquireTokens trims n to the rate tokens available, waiting for at least one.
func (w *Worker) acquireTokens(ctx context.Context, n int) (int, bool) {
	if w.limiter == nil {
		return n, true
	}
	for {
		got, wait := w.limiter.take(n, time.Now())
		if got > 0 {
			if got < n {
				w.releaseSlots(n - got)
			}
			return got, true
		}
		if !sleepCtx(ctx, wait) {
			w.releaseSlots(n)
			return 0, false
		}
	}
}

func (w *Worker) poll(n int) ([]*matchingv1.Task, error) {
	ctx, cancel := context.WithTimeout(w.callCtx, w.opts.PollTimeout)
	defer cancel()
	resp, err := w.rpc.PollTasks(ctx, w.pollRequest(n))
	if err != nil {
		return nil, err
	}
	return resp.GetTasks(), nil
}

// pollRequest is this worker's poll for n tasks (the open message of its stream too).
func (w *Worker) pollRequest(n int) *matchingv1.PollTasksRequest {
	prios := make([]int32, len(w.opts.Priorities))
	for i, p := range w.opts.Priorities {
		prios[i] = int32(p)
	}
	return &matchingv1.PollTasksRequest{
		Namespace:      w.client.Namespace(),
		Queue:          w.opts.Queue,
		Kind:           client.KindToProto(w.opts.Kind),
		WorkerIdentity: w.identity,
		Pool:           w.opts.Pool,
		Version:        w.opts.Version,
		MaxTasks:       int32(n),
		TaskTypes:      w.taskTypes(),
		Priorities:     prios,
		TasksPerSecond: w.opts.TasksPerSecond,
		Capabilities:   w.capabilities,
		MaxSessions:    int32(w.opts.Sessions),
	}
}

// execute runs one task and reports its outcome; its executor holds the task's slot until
// then. On the stream the outcome takes the slot on (to become the credit of its message):
// slotHandedOn tells the executor not to free it.
func (w *Worker) execute(x *executor, t *Task) (slotHandedOn bool) {
	x.begin(t)
	defer x.end(t)

	h := w.handler(t.Type)
	if h == nil {
		t.phase.Store(phaseReporting)
		return w.fail(t, &Error{
			Type:    ErrorTypeUnknownTaskType,
			Message: fmt.Sprintf("task type %q is not registered by worker %s (registered: %v)", t.Type, w.identity, w.taskTypes()),
		})
	}

	ctx := &t.ctx
	if iv := w.heartbeatInterval(t); iv > 0 {
		hbCtx, stopHB := context.WithCancel(ctx)
		go t.autoHeartbeat(hbCtx, iv)
		defer stopHB()
	}

	result, err := runHandler(ctx, h, t)

	if !t.phase.CompareAndSwap(phaseRunning, phaseReporting) {
		return false // Stop handed the task back; its outcome is no longer ours to report
	}
	switch {
	case err == nil:
		return w.complete(t, result)
	case t.CancelRequested() && errors.Is(t.canceledBy(), ErrCancelRequested):
		w.reportCanceled(t)
	case errors.Is(t.canceledBy(), ErrLeaseLost):
		w.log.V(1).Info("Dropped result of task whose lease was lost", "taskID", t.ID)
	case ctx.Err() == context.DeadlineExceeded && errors.Is(err, context.DeadlineExceeded):
		return w.fail(t, &Error{Type: ErrorTypeTimeout, Message: "handler did not return within the start-to-close timeout", Err: err})
	default:
		return w.fail(t, failureOf(err))
	}
	return false
}

func runHandler(ctx context.Context, h Handler, t *Task) (result []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &Error{Type: ErrorTypePanic, Message: fmt.Sprint("handler panicked: ", r)}
		}
	}()
	return h(ctx, t)
}

// complete reports a result; true when the result took the task's slot on (stream).
func (w *Worker) complete(t *Task, result []byte) bool {
	item := newCompletion(w, t, result)
	if w.stream != nil {
		return w.stream.complete(item) // acknowledged later; the slot frees now
	}
	err := w.completer.complete(item)
	if err != nil {
		w.log.Error(err, "Failed to complete task", "taskID", t.ID, "attempt", t.Attempt)
	}
	return false
}

// fail reports a failed attempt; true when the failure took the task's slot on (stream).
func (w *Worker) fail(t *Task, e *Error) bool {
	req := &matchingv1.FailTaskRequest{
		Namespace: t.Namespace, TaskId: t.ID, LeaseId: t.LeaseID, WorkerIdentity: w.identity,
		Failure: &matchingv1.Failure{Message: e.Error(), ErrorType: e.Type, NonRetryable: e.NonRetryable, Details: e.Details},
	}
	if e.Message != "" {
		req.Failure.Message = e.Message
	}
	if w.stream != nil {
		return w.stream.fail(req) // acknowledged later, like a completion; the slot frees now
	}
	if err := w.failUnary(req); err != nil {
		w.log.Error(err, "Failed to report task failure", "taskID", t.ID, "errorType", e.Type)
	}
	return false
}

// failUnary reports a failure with FailTask, retrying while the service is unreachable.
func (w *Worker) failUnary(req *matchingv1.FailTaskRequest) error {
	return w.retryReport(func(ctx context.Context) error {
		_, err := w.rpc.FailTask(ctx, req)
		return err
	})
}

func (w *Worker) reportCanceled(t *Task) {
	var details []byte
	t.mu.Lock()
	if t.extras != nil {
		details = t.extras.details
	}
	t.mu.Unlock()
	err := w.retryReport(func(ctx context.Context) error {
		_, err := w.rpc.ReportTaskCanceled(ctx, &matchingv1.ReportTaskCanceledRequest{
			Namespace: t.Namespace, TaskId: t.ID, LeaseId: t.LeaseID, Details: details, WorkerIdentity: w.identity,
		})
		return err
	})
	if err != nil {
		w.log.Error(err, "Failed to report task canceled", "taskID", t.ID)
	}
}

// retryReport repeats a report while the service is unreachable, up to
// ReportRetryTimeout. Reports are safe to repeat: a duplicate is refused as stale.
func (w *Worker) retryReport(call func(ctx context.Context) error) error {
	deadline := time.Now().Add(w.opts.ReportRetryTimeout)
	b := newBackoff()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), w.opts.CallTimeout)
		err := call(ctx)
		cancel()
		if err == nil || !client.IsRetryable(err) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(b.next())
	}
}

// backoff is a capped exponential backoff with jitter.
type backoff struct{ d time.Duration }

func newBackoff() *backoff { return &backoff{d: 50 * time.Millisecond} }

func (b *backoff) next() time.Duration {
	d := b.d
	b.d = min(2*b.d, 2*time.Second)
	return d/2 + time.Duration(mrand.Int64N(int64(d/2)+1))
}

func (b *backoff) reset() { b.d = 50 * time.Millisecond }

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// statusOf turns a batch item's error into a status error.
func statusOf(e *matchingv1.ItemError) error {
	if e == nil || e.GetCode() == 0 {
		return nil
	}
	return status.Error(codes.Code(e.GetCode()), e.GetMessage())
}
