package worker_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/taskroute/taskroute/internal/matching/testserver"
	"github.com/taskroute/taskroute/pkg/client"
	"github.com/taskroute/taskroute/pkg/worker"
)

// BenchmarkAddToStart traces where an add's way to its handler goes with an idle stream
// worker (real service in this process, gRPC on 127.0.0.1): each iteration times a bare
// unary round trip (GetTask of an unknown id) on the same connection, then one AddTask to
// its handler's start. It reports both medians and 99th percentiles, so the add's path can
// be read against the transport's floor (docs/benchmarks.md, "Where an add and a start go").
//
//	go test -run XXX -bench AddToStart -benchtime 1000x ./pkg/worker/
func BenchmarkAddToStart(b *testing.B) {
	addr, _ := testserver.Start(b, testserver.Options{})
	c, err := client.Dial(context.Background(), addr, client.WithNamespace("default"))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	started := make(chan time.Time, 1)
	w, err := worker.New(c, worker.Options{Queue: "lat", Slots: 64, Identity: "lat"})
	if err != nil {
		b.Fatal(err)
	}
	w.Register("t", func(context.Context, *worker.Task) ([]byte, error) { started <- time.Now(); return nil, nil })
	if err := w.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = w.Stop(context.Background()) }()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rtt := make([]time.Duration, 0, b.N)
	start := make([]time.Duration, 0, b.N)
	added := make(chan error, 1)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		_, _ = c.GetTask(ctx, "missing") // NotFound: a round trip and nothing else
		rtt = append(rtt, time.Since(t0))
		t1 := time.Now()
		go func() { _, err := c.AddTask(ctx, client.Task{Queue: "lat", Type: "t"}); added <- err }()
		select {
		case s := <-started:
			start = append(start, s.Sub(t1))
		case <-ctx.Done():
			b.Fatal("the handler never started")
		}
		if err := <-added; err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	report := func(name string, d []time.Duration) {
		slices.Sort(d)
		b.ReportMetric(float64(d[len(d)/2].Microseconds()), name+"-p50-µs")
		b.ReportMetric(float64(d[len(d)*99/100].Microseconds()), name+"-p99-µs")
	}
	report("rtt", rtt)
	report("add-start", start)
}
