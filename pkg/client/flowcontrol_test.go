package client_test

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/taskroute/taskroute/internal/matching/testserver"
	"github.com/taskroute/taskroute/pkg/client"
	"github.com/taskroute/taskroute/pkg/worker"
)

// fixedWindow is the stream and connection window both ends use (client.Dial and the
// service); a receiver acknowledges consumed data once a quarter of a window is pending.
const fixedWindow = 1 << 20

// TestWorkerStreamSendsNoBDPPings: a worker stream running a few thousand tasks through a
// frame-counting proxy puts no PING on the wire in either direction (gRPC's BDP estimation
// pings on received data unless windows are fixed; keepalive is not configured), and each
// side sends a WINDOW_UPDATE only per quarter window of data it received (gRPC's default
// 64 KiB windows send one per 16 KiB).
func TestWorkerStreamSendsNoBDPPings(t *testing.T) {
	proxy := runWorkerStreamThroughProxy(t)
	for name, c := range map[string]*frameCounts{"client to service": &proxy.toServer, "service to client": &proxy.toClient} {
		if pings := c.pings.Load(); pings != 0 {
			t.Errorf("%s: %d PING frames, want none (BDP estimation is off with fixed windows)", name, pings)
		}
		// The receiver of the other direction's data sends these: stream and connection
		// updates per quarter window, plus the connection window's first update.
		received := proxy.received(c)
		if limit := 2*received/(fixedWindow/4) + 4; c.windowUpdates.Load() > limit {
			t.Errorf("%s: %d WINDOW_UPDATE frames for %d bytes received, want at most %d", name, c.windowUpdates.Load(), received, limit)
		}
	}
}

// TestDialOptionsReplaceTheWindows: windows set with WithDialOptions win over Dial's (they
// come after them): with 64 KiB windows the client acknowledges every 16 KiB it reads.
func TestDialOptionsReplaceTheWindows(t *testing.T) {
	const small = 64 << 10
	proxy := runWorkerStreamThroughProxy(t, client.WithDialOptions(grpc.WithStaticStreamWindowSize(small), grpc.WithStaticConnWindowSize(small)))
	received, updates := proxy.received(&proxy.toServer), proxy.toServer.windowUpdates.Load()
	if want := received / (small / 4); updates < want {
		t.Fatalf("client sent %d WINDOW_UPDATE frames for %d bytes read, want at least %d (one per 16 KiB of its own 64 KiB windows)", updates, received, want)
	}
	if pings := proxy.toServer.pings.Load(); pings != 0 {
		t.Fatalf("client sent %d PING frames with static windows of its own, want none", pings)
	}
}

// runWorkerStreamThroughProxy runs 3000 tasks of 512 bytes through a worker whose
// connection goes through a frame-counting proxy (the tasks are added directly) and
// returns the proxy once every task ran.
func runWorkerStreamThroughProxy(t *testing.T, opts ...client.Option) *h2Proxy {
	t.Helper()
	addr, _ := testserver.Start(t, testserver.Options{})
	proxy := startH2Proxy(t, addr)
	adder := dial(t, addr)
	workerClient := dial(t, proxy.addr(), opts...)

	const tasks = 3000
	var done atomic.Int64
	allDone := make(chan struct{})
	w, err := worker.New(workerClient, worker.Options{Queue: "window", Slots: 64, Identity: "window-1"})
	if err != nil {
		t.Fatal(err)
	}
	w.Register("t", func(_ context.Context, task *worker.Task) ([]byte, error) {
		if done.Add(1) == tasks {
			close(allDone)
		}
		return task.Payload, nil
	})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Stop(context.Background()) })
	addPayloadTasks(t, adder, "window", tasks, 512)
	select {
	case <-allDone:
	case <-time.After(20 * time.Second):
		t.Fatalf("%d of %d tasks ran", done.Load(), tasks)
	}
	for name, c := range map[string]*frameCounts{"client to service": &proxy.toServer, "service to client": &proxy.toClient} {
		t.Logf("%s: %d pings, %d window updates, %d data bytes", name, c.pings.Load(), c.windowUpdates.Load(), c.dataBytes.Load())
	}
	return proxy
}

func dial(t *testing.T, addr string, opts ...client.Option) *client.Client {
	t.Helper()
	opts = append([]client.Option{client.WithNamespace("default"), client.WithCallTimeout(10 * time.Second)}, opts...)
	c, err := client.Dial(context.Background(), addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func addPayloadTasks(t *testing.T, c *client.Client, queue string, n, payloadBytes int) {
	t.Helper()
	payload := bytes.Repeat([]byte("p"), payloadBytes)
	batch := make([]client.Task, 0, 500)
	for i := range n {
		batch = append(batch, client.Task{ID: fmt.Sprint(queue, "-", i), Queue: queue, Type: "t", Payload: payload})
		if len(batch) == cap(batch) || i == n-1 {
			if _, err := c.AddTasks(context.Background(), batch); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
}

// TestLargeMessagesFlowThroughFixedWindows: messages several times the 1 MiB window (a
// 4 MiB AddTasks, 1 MiB results sent by a worker and read back by GetTask) pass through
// the proxy promptly, a window at a time.
func TestLargeMessagesFlowThroughFixedWindows(t *testing.T) {
	addr, _ := testserver.Start(t, testserver.Options{})
	proxy := startH2Proxy(t, addr)
	c := dial(t, proxy.addr())
	const tasks, payloadBytes = 4, 1<<20 - 1<<10 // the namespace quota's payload limit is 1 MiB
	start := time.Now()

	w, err := worker.New(c, worker.Options{Queue: "large", Slots: tasks, Identity: "large-1"})
	if err != nil {
		t.Fatal(err)
	}
	w.Register("t", func(_ context.Context, task *worker.Task) ([]byte, error) { return task.Payload, nil })
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Stop(context.Background()) })
	addPayloadTasks(t, c, "large", tasks, payloadBytes) // one AddTasks of 4 MiB
	for i := range tasks {
		info, err := c.WaitForResult(context.Background(), fmt.Sprint("large-", i))
		if err != nil || info.State != client.StateCompleted || len(info.Result) != payloadBytes {
			t.Fatalf("task %d: %v, %d result bytes, %v; want Completed with its payload as result", i, info.State, len(info.Result), err)
		}
	}
	elapsed := time.Since(start)
	t.Logf("%d MiB to the service, %d MiB back, in %v", proxy.toServer.dataBytes.Load()>>20, proxy.toClient.dataBytes.Load()>>20, elapsed)
	if moved := proxy.toClient.dataBytes.Load(); moved < 2*tasks*payloadBytes {
		t.Fatalf("service sent %d bytes, want at least the tasks and their results (%d)", moved, 2*tasks*payloadBytes)
	}
	if elapsed > 5*time.Second {
		t.Fatalf("moving %d MiB over loopback took %v", 3*tasks*payloadBytes>>20, elapsed)
	}
}
