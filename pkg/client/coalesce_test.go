package client

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/taskroute/taskroute/internal/matching/testserver"
)

// gate counts the client's add calls and holds the first one until opened, so a test can
// line up concurrent AddTask calls behind it.
type gate struct {
	calls   atomic.Int32
	batches atomic.Int32
	first   chan struct{} // closed when the first call is held
	open    chan struct{}
	once    sync.Once
}

func newGate() *gate { return &gate{first: make(chan struct{}), open: make(chan struct{})} }

func (g *gate) intercept(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if strings.HasSuffix(method, "/AddTask") || strings.HasSuffix(method, "/AddTasks") {
		if g.calls.Add(1) == 1 {
			g.once.Do(func() { close(g.first) })
			<-g.open
		}
		if strings.HasSuffix(method, "/AddTasks") {
			g.batches.Add(1)
		}
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}

// startGated dials the real matching service (Pebble, gRPC on loopback) with one add
// sender and the gate in front of every call.
func startGated(t *testing.T) (*Client, *gate) {
	t.Helper()
	addr, _ := testserver.Start(t, testserver.Options{})
	g := newGate()
	c, err := Dial(context.Background(), addr, WithNamespace("coalesce"), WithAddSenders(1),
		WithDialOptions(grpc.WithChainUnaryInterceptor(g.intercept)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, g
}

type addAnswer struct {
	res AddResult
	err error
}

// addBehindFirst sends first, waits until the gate holds it, sends rest concurrently,
// waits until all of them wait for a sender, then opens the gate. It returns every
// call's answer, first's at index 0.
func addBehindFirst(t *testing.T, c *Client, g *gate, first Task, rest []Task) []addAnswer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	answers := make([]addAnswer, 1+len(rest))
	var wg sync.WaitGroup
	send := func(i int, task Task) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := c.AddTask(ctx, task)
			answers[i] = addAnswer{res, err}
		}()
	}
	send(0, first)
	select {
	case <-g.first:
	case <-ctx.Done():
		t.Fatal("the first add never reached the service")
	}
	for i, task := range rest {
		send(i+1, task)
	}
	waitPending(t, c, len(rest))
	close(g.open)
	wg.Wait()
	return answers
}

// waitPending polls, with a bounded deadline, until n calls wait for a sender.
func waitPending(t *testing.T, c *Client, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := 0
		if c.adds != nil {
			c.adds.mu.Lock()
			got = len(c.adds.pending)
			c.adds.mu.Unlock()
		}
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d AddTask calls wait for a sender, want %d (calls are not coalesced)", got, n)
		}
		time.Sleep(time.Millisecond) // polling a condition with a deadline, not synchronising
	}
}

// TestConcurrentAddTasksShareCalls: 32 concurrent AddTask calls against the real service
// take 2 calls (the first alone, the 31 that waited behind it in one AddTasks); each
// caller gets its own id, and a repeated id is still recognised (Created false).
func TestConcurrentAddTasksShareCalls(t *testing.T) {
	c, g := startGated(t)
	rest := make([]Task, 31)
	for i := range rest {
		rest[i] = Task{Queue: "q", Type: "t", Payload: []byte(fmt.Sprint(i))}
	}
	rest[0].ID, rest[1].ID = "same", "same"
	answers := addBehindFirst(t, c, g, Task{Queue: "q", Type: "t"}, rest)

	if n := g.calls.Load(); n != 2 || g.batches.Load() != 1 {
		t.Fatalf("%d add calls (%d AddTasks) for 32 AddTask calls; want 2 (1)", n, g.batches.Load())
	}
	ids := map[string]bool{}
	created := 0
	for i, a := range answers {
		if a.err != nil {
			t.Fatalf("add %d: %v", i, a.err)
		}
		if a.res.Created {
			created++
		}
		ids[a.res.ID] = true
		info, err := c.GetTask(context.Background(), a.res.ID)
		if err != nil || info.ID != a.res.ID {
			t.Fatalf("add %d: task %q not found: %v", i, a.res.ID, err)
		}
	}
	if len(ids) != 31 || created != 31 || !ids["same"] {
		t.Fatalf("%d distinct ids, %d created; want 31 and 31 (one id repeated)", len(ids), created)
	}
}

// TestCoalescedInvalidTaskFailsAlone: one invalid task among calls that share an AddTasks
// call (which the service refuses as a whole) fails alone, with the error a lone AddTask
// gets naming its field; its neighbours are added.
func TestCoalescedInvalidTaskFailsAlone(t *testing.T) {
	c, g := startGated(t)
	rest := make([]Task, 8)
	for i := range rest {
		rest[i] = Task{Queue: "q", Type: "t"}
	}
	rest[3].Priority = 99 // the queue has 5 levels: only the service knows
	answers := addBehindFirst(t, c, g, Task{Queue: "q", Type: "t"}, rest)

	for i, a := range answers {
		if i == 4 {
			if status.Code(a.err) != codes.InvalidArgument || !strings.Contains(a.err.Error(), "task.priority") {
				t.Fatalf("invalid task: %v; want InvalidArgument naming task.priority", a.err)
			}
			continue
		}
		if a.err != nil {
			t.Fatalf("add %d failed with its invalid neighbour: %v", i, a.err)
		}
		if _, err := c.GetTask(context.Background(), a.res.ID); err != nil {
			t.Fatalf("add %d: task %q not found: %v", i, a.res.ID, err)
		}
	}
	if g.batches.Load() != 1 {
		t.Fatalf("%d AddTasks calls; want 1 (the shared one, then each task alone)", g.batches.Load())
	}
}
