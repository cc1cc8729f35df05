package matching

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/taskroute/taskroute/pkg/client"
)

// Shape of the fairness benchmark: the small tenant adds one task every smallEvery,
// smallTasks in all; when flooded, the flooding tenant adds floodRatio tasks with each.
// With 1,000 samples a p99 is the 10th-worst latency, not the 3rd-worst of 300 (which one
// scheduling stall of the machine decided).
const (
	smallTasks = 1000
	smallEvery = 10 * time.Millisecond
	floodRatio = 100
)

// BenchmarkFairnessFlood measures the small tenant's latency (its add sent -> its handler
// started in a real worker process, over real gRPC to the standalone server) alone, and
// while another tenant adds 100 tasks for each of its tasks, more than the worker runs, so
// the flood's backlog grows for the whole run. It reports both p99s and their ratio.
//
// A third phase is the control: the same flood on another queue with a worker of its own,
// so the machine carries the same load but the small tenant's queue has no backlog and its
// worker free slots. What the flooded p99 has over the control's is what sharing the queue
// and its busy worker costs the small tenant; what the control has over the alone p99 is
// the load on the machine's cores, which no queue order can take away.
//
//	go test ./test/matching -run '^$' -bench BenchmarkFairnessFlood -benchtime 1x
func BenchmarkFairnessFlood(b *testing.B) {
	for range b.N {
		s := startServer(b, "")
		c := s.client()
		alone := smallTenantLatencies(b, s, c, "alone", noFlood)
		flooded := smallTenantLatencies(b, s, c, "flooded", floodSameQueue)
		control := smallTenantLatencies(b, s, c, "control", floodOtherQueue)
		c.Close()
		pa, pf, pc := percentile(alone, 0.99), percentile(flooded, 0.99), percentile(control, 0.99)
		b.ReportMetric(ms(percentile(alone, 0.5)), "alone-p50-ms")
		b.ReportMetric(ms(pa), "alone-p99-ms")
		b.ReportMetric(ms(percentile(flooded, 0.5)), "flooded-p50-ms")
		b.ReportMetric(ms(pf), "flooded-p99-ms")
		b.ReportMetric(ms(pc), "control-p99-ms")
		b.ReportMetric(float64(pf)/float64(pa), "p99-ratio")
		b.ReportMetric(float64(pf)/float64(pc), "flooded/control")
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// floodShape says whether and where the flooding tenant adds its tasks.
type floodShape int

const (
	noFlood         floodShape = iota
	floodSameQueue             // on the small tenant's queue, served by its worker
	floodOtherQueue            // the control: on another queue, served by a worker of its own
)

// smallTenantLatencies runs one worker process on a fresh queue, adds the small tenant's
// tasks (and the flood's, if any) at the set pace, and returns the small tasks' latencies.
func smallTenantLatencies(b *testing.B, s *server, c *client.Client, queue string, flood floodShape) []time.Duration {
	w := startWorker(b, s.addr, workerConfig{queue: queue, types: "echo", slots: 8, id: "bench-" + queue})
	floodQueue := queue
	if flood == floodOtherQueue {
		floodQueue = queue + "-flood"
		fw := startWorker(b, s.addr, workerConfig{queue: floodQueue, types: "echo", slots: 8, id: "bench-" + floodQueue})
		defer fw.kill()
	}
	ctx := context.Background()
	sent := make(map[string]int64, smallTasks)
	ids := make([]string, 0, smallTasks)
	next := time.Now()
	for i := range smallTasks {
		if flood != noFlood {
			batch := make([]client.Task, floodRatio)
			for j := range batch {
				batch[j] = client.Task{Queue: floodQueue, Type: "echo", FairnessKey: "flood"}
			}
			if _, err := c.AddTasks(ctx, batch); err != nil {
				b.Fatal(err)
			}
		}
		id := fmt.Sprintf("small-%s-%04d", queue, i)
		sent[id] = time.Now().UnixNano()
		if _, err := c.AddTask(ctx, client.Task{ID: id, Queue: queue, Type: "echo", FairnessKey: "small"}); err != nil {
			b.Fatal(err)
		}
		ids = append(ids, id)
		next = next.Add(smallEvery)
		time.Sleep(time.Until(next)) // pacing the load, not synchronising
	}
	waitAll(b, c, ids, 2*time.Minute)
	w.kill()
	started := executionTimes(b, w)
	lat := make([]time.Duration, 0, len(ids))
	for _, id := range ids {
		lat = append(lat, time.Duration(started[id]-sent[id]))
	}
	return lat
}

// executionTimes reads the worker's execution log: task id -> when its first attempt started.
func executionTimes(b *testing.B, w *workerProc) map[string]int64 {
	f, err := os.Open(w.logPath)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	out := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 3 && fields[2] == "1" {
			at, _ := strconv.ParseInt(fields[0], 10, 64)
			out[fields[1]] = at
		}
	}
	return out
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}
