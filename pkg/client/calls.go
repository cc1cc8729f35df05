package client

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

// MaxBatch is the most tasks the service accepts in one AddTasks call; AddTasks splits
// longer slices into several calls.
const MaxBatch = 1000

// maxWaitPerCall is the longest wait the service honours in one GetTask call.
const maxWaitPerCall = time.Minute

// AddTask schedules one task and returns once it is durable. Adding an ID that exists
// returns Created=false and schedules nothing, so a caller may safely repeat an AddTask
// whose answer it did not get.
//
// Concurrent AddTask calls of a Client (and of the Clients derived from it) share calls:
// one that finds nothing waiting is sent at once, alone; those arriving while
// WithAddSenders calls are in flight are sent together in one AddTasks call (one round trip
// and one synced write) as soon as one of them returns. Each caller still gets its own
// result or error: when the shared call is refused (one task is invalid, for example),
// each task is sent again alone, so only the invalid one fails, with the error a lone
// call gets. A call whose context carries outgoing gRPC metadata is always sent alone.
//
// Within the call's deadline (ctx's, else the client's call timeout) AddTask backs off and
// retries a refusal that time lifts: ResourceExhausted from a namespace quota that carries
// a retry delay (add rate, backlog), and Unavailable (a restart of the service) when the
// task has an ID. When the deadline leaves no room for another try, the last refusal is
// returned.
func (c *Client) AddTask(ctx context.Context, t Task) (AddResult, error) {
	spec := c.specToProto(&t)
	if field, msg := checkSpec(spec); field != "" {
		return AddResult{}, invalid(field, msg)
	}
	ctx, cancel := c.callContext(ctx)
	defer cancel()
	if c.adds != nil && coalescable(ctx) {
		return c.adds.add(ctx, spec)
	}
	return addOne(ctx, c.rpc, spec)
}

// AddTasks schedules many tasks with as few durable writes as possible: one call per
// MaxBatch tasks. Results are in the order of tasks. A batch is all or nothing; when a
// later batch fails, the results of the earlier ones are returned with the error (its
// message names the failing index within the whole slice when the service names one).
// Each call is retried like AddTask's; Unavailable only when every task of it has an ID.
func (c *Client) AddTasks(ctx context.Context, tasks []Task) ([]AddResult, error) {
	results := make([]AddResult, 0, len(tasks))
	reused := matchingv1.AddTasksResponseFromVTPool() // the results are copied out of it
	defer reused.ReturnToVTPool()
	for start := 0; start < len(tasks); start += MaxBatch {
		end := min(start+MaxBatch, len(tasks))
		req, err := c.addTasksRequest(tasks, start, end)
		if err != nil {
			return results, err
		}
		resp, err := c.addBatch(ctx, req, reused)
		if err != nil {
			if start > 0 {
				st := status.Convert(err)
				return results, status.Errorf(st.Code(), "batch starting at tasks[%d]: %s", start, st.Message())
			}
			return results, err
		}
		if len(resp.GetResults()) != end-start {
			return results, status.Errorf(codes.Internal, "service answered %d results for %d tasks", len(resp.GetResults()), end-start)
		}
		for _, r := range resp.GetResults() {
			results = append(results, AddResult{ID: r.GetTaskId(), Created: r.GetCreated()})
		}
	}
	return results, nil
}

// addTasksRequest builds the request of tasks[start:end], refusing one that cannot be
// valid with the field named by its index in tasks. The TaskSpecs come from one slice per
// request, so a valid task costs only the allocations of what its spec points to (the
// index is formatted only for an error).
func (c *Client) addTasksRequest(tasks []Task, start, end int) (*matchingv1.AddTasksRequest, error) {
	req := &matchingv1.AddTasksRequest{Tasks: make([]*matchingv1.TaskSpec, 0, end-start)}
	specs := make([]matchingv1.TaskSpec, end-start)
	for i := start; i < end; i++ {
		spec := &specs[i-start]
		c.fillSpec(spec, &tasks[i])
		if field, msg := checkSpec(spec); field != "" {
			return nil, invalid(fmt.Sprintf("tasks[%d].%s", i, field), msg)
		}
		req.Tasks = append(req.Tasks, spec)
	}
	return req, nil
}

// addBatch makes one AddTasks call. On Dial's connection the answer is decoded into
// reused, whose results (and their slice) the codec refills instead of allocating one per
// task; through a connection given to New, or a service given to NewFromService, it is a
// new message as the generated client makes it.
func (c *Client) addBatch(ctx context.Context, req *matchingv1.AddTasksRequest, reused *matchingv1.AddTasksResponse) (*matchingv1.AddTasksResponse, error) {
	ctx, cancel := c.callContext(ctx)
	defer cancel()
	var resp *matchingv1.AddTasksResponse
	err := retryAdd(ctx, req.GetTasks(), func(ctx context.Context) error {
		if c.cc != nil {
			resp = reused
			return c.cc.Invoke(ctx, matchingv1.MatchingService_AddTasks_FullMethodName, req, resp, grpc.StaticMethod())
		}
		var err error
		resp, err = c.rpc.AddTasks(ctx, req)
		return err
	})
	return resp, err
}

// checkSpec rejects what cannot be valid before it costs a round trip: the field at fault
// and why, or "" (the caller names the field; a valid spec costs no allocation). The
// service validates everything again (limits are its own); this only catches the obvious.
func checkSpec(s *matchingv1.TaskSpec) (field, msg string) {
	if s.GetQueue() == "" {
		return "queue", "must not be empty (no default queue on this client)"
	}
	if s.GetTaskType() == "" {
		return "task_type", "must not be empty"
	}
	if s.GetPriority() < 0 {
		return "priority", fmt.Sprintf("must not be negative, got %d", s.GetPriority())
	}
	return "", ""
}

// GetTask returns a task's current state and outcome. An unknown id gets NotFound.
func (c *Client) GetTask(ctx context.Context, id string) (*TaskInfo, error) {
	if id == "" {
		return nil, invalid("task_id", "must not be empty")
	}
	ctx, cancel := c.callContext(ctx)
	defer cancel()
	resp, err := c.rpc.GetTask(ctx, &matchingv1.GetTaskRequest{Namespace: c.namespace, TaskId: id})
	if err != nil {
		return nil, err
	}
	return TaskInfoFromProto(resp.GetTask()), nil
}

// WaitForResult blocks until the task is in a final state (Completed, Failed, Canceled,
// TimedOut or Terminated) or ctx ends, and returns its TaskInfo. The outcome is in the
// TaskInfo (State, Result, Failure); the error is only about the call. It survives
// transient failures of the service (for example a restart) by asking again. When ctx
// ends first, it returns the last state it saw (or nil) with ctx's error.
func (c *Client) WaitForResult(ctx context.Context, id string) (*TaskInfo, error) {
	if id == "" {
		return nil, invalid("task_id", "must not be empty")
	}
	var last *TaskInfo // returned with ctx's error, so a caller can say what state it was in
	backoff := 50 * time.Millisecond
	for {
		wait := maxWaitPerCall
		if dl, ok := ctx.Deadline(); ok {
			// Leave room for the answer to come back before our own deadline.
			wait = min(wait, time.Until(dl)-100*time.Millisecond)
		}
		if wait < 0 {
			wait = 0
		}
		callCtx, cancel := context.WithTimeout(ctx, wait+10*time.Second)
		resp, err := c.rpc.GetTask(callCtx, &matchingv1.GetTaskRequest{
			Namespace: c.namespace, TaskId: id, Wait: durationpb.New(wait),
		})
		cancel()
		if err == nil {
			last = TaskInfoFromProto(resp.GetTask())
			if last.State.Final() {
				return last, nil
			}
			backoff = 50 * time.Millisecond
			if ctx.Err() != nil {
				return last, ctx.Err()
			}
			if wait == 0 {
				// Too little time left for another wait.
				return last, context.DeadlineExceeded
			}
			continue
		}
		if ctx.Err() != nil {
			return last, ctx.Err()
		}
		if !IsRetryable(err) {
			return last, err
		}
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// CancelTask requests cancellation: a scheduled task ends as Canceled at once; a started
// one learns it through its next heartbeat. It returns the task's state after the request.
func (c *Client) CancelTask(ctx context.Context, id, reason string) (State, error) {
	if id == "" {
		return StateUnspecified, invalid("task_id", "must not be empty")
	}
	ctx, cancel := c.callContext(ctx)
	defer cancel()
	resp, err := c.rpc.CancelTask(ctx, &matchingv1.CancelTaskRequest{Namespace: c.namespace, TaskId: id, Reason: reason})
	if err != nil {
		return StateUnspecified, err
	}
	return StateFromProto(resp.GetState()), nil
}

// DescribeQueue returns live statistics of a queue (both kinds). A queue that never saw a
// task or poller is described as empty, not as an error.
func (c *Client) DescribeQueue(ctx context.Context, queue string) (*QueueDescription, error) {
	if queue == "" {
		return nil, invalid("queue", "must not be empty")
	}
	ctx, cancel := c.callContext(ctx)
	defer cancel()
	resp, err := c.rpc.DescribeQueue(ctx, &matchingv1.DescribeQueueRequest{Namespace: c.namespace, Queue: queue})
	if err != nil {
		return nil, err
	}
	return describeFromProto(resp), nil
}

// ListQueues lists every queue of the namespace that holds tasks, pollers or
// configuration, following pages until the end or until limit queues (0 = no limit).
func (c *Client) ListQueues(ctx context.Context, limit int) ([]QueueSummary, error) {
	var out []QueueSummary
	token := ""
	for {
		pageSize := int32(MaxBatch)
		if limit > 0 {
			pageSize = int32(min(limit-len(out), MaxBatch))
		}
		resp, err := c.listPage(ctx, pageSize, token)
		if err != nil {
			return out, err
		}
		for _, q := range resp.GetQueues() {
			out = append(out, QueueSummary{
				Namespace: q.GetNamespace(), Queue: q.GetQueue(),
				BacklogCount: q.GetBacklogCount(), PollerCount: int(q.GetPollerCount()),
			})
		}
		token = resp.GetNextPageToken()
		if token == "" || (limit > 0 && len(out) >= limit) {
			return out, nil
		}
	}
}

func (c *Client) listPage(ctx context.Context, pageSize int32, token string) (*matchingv1.ListQueuesResponse, error) {
	ctx, cancel := c.callContext(ctx)
	defer cancel()
	return c.rpc.ListQueues(ctx, &matchingv1.ListQueuesRequest{Namespace: c.namespace, PageSize: pageSize, PageToken: token})
}

// ListTasks returns one page of a queue's tasks (both kinds) in task id order, without
// their bytes (Payload, Result, HeartbeatDetails, Failure.Details: GetTask has them). The
// service reads at most 10000 task records of the namespace (or 64 MiB of them) per page,
// so a page may hold fewer than PageSize tasks, even none, while NextPageToken says there
// are more: follow it until it is empty.
func (c *Client) ListTasks(ctx context.Context, queue string, opts ListTasksOptions) (*TaskPage, error) {
	if queue == "" {
		return nil, invalid("queue", "must not be empty")
	}
	state, ok := protoStates[opts.State]
	if !ok {
		return nil, invalid("state", fmt.Sprintf("unknown state %q", opts.State))
	}
	if opts.PageSize < 0 || opts.PageSize > 1000 {
		return nil, invalid("page_size", fmt.Sprintf("must be 0 (100) or 1..1000, got %d", opts.PageSize))
	}
	ctx, cancel := c.callContext(ctx)
	defer cancel()
	resp, err := c.rpc.ListTasks(ctx, &matchingv1.ListTasksRequest{Namespace: c.namespace, Queue: queue,
		State: state, PageSize: int32(opts.PageSize), PageToken: opts.PageToken})
	if err != nil {
		return nil, err
	}
	page := &TaskPage{Tasks: make([]*TaskInfo, 0, len(resp.GetTasks())), NextPageToken: resp.GetNextPageToken()}
	for _, t := range resp.GetTasks() {
		page.Tasks = append(page.Tasks, TaskInfoFromProto(t))
	}
	return page, nil
}
