package server_test

import (
	"context"
	"sort"
	"testing"
	"time"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/matching/testserver"
)

// BenchmarkSessionCreate: one caller creates sessions one after another over real gRPC on
// loopback (each answered once its record is queued for the next group commit) on a queue
// with a live worker; each session is completed before the next (not timed). Reports p50
// and p99 of CreateSession.
func BenchmarkSessionCreate(b *testing.B) {
	addr, _ := testserver.Start(b, testserver.Options{})
	c := dial(b, addr)
	ctx := context.Background()
	if _, err := c.RecordWorkerHeartbeat(ctx, &matchingv1.RecordWorkerHeartbeatRequest{Namespace: "default", Queue: "sessions",
		WorkerIdentity: "w", MaxSessions: 100,
		Capabilities: []*matchingv1.Capability{{Name: "taskroute.dev/process", Value: "p1"}}}); err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		resp, err := c.CreateSession(ctx, &matchingv1.CreateSessionRequest{Namespace: "default", Queue: "sessions"})
		lat = append(lat, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.CompleteSession(ctx, &matchingv1.CompleteSessionRequest{Namespace: "default", SessionId: resp.GetSession().GetSessionId()}); err != nil {
			b.Fatal(err)
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
