package matching

import (
	"context"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	esv1 "github.com/taskroute/taskroute/api/externalscaler/v1alpha1"
	"github.com/taskroute/taskroute/pkg/client"
)

// TestKEDAActivationFollowsTheFirstTask measures, on `manager --standalone`, the time from
// adding the first task of an empty queue to KEDA's StreamIsActive reporting the queue
// active (docs/benchmarks.md, "KEDA activation"). Each round is a fresh queue. The stream
// re-checks the backlog only every 5s, so activations well below that come from the
// engine's backlog watch.
func TestKEDAActivationFollowsTheFirstTask(t *testing.T) {
	const rounds = 20
	s := startServer(t, "")
	c := s.client()
	defer c.Close()
	conn, err := grpc.NewClient(s.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	keda := esv1.NewExternalScalerClient(conn)

	var took []time.Duration
	for i := range rounds {
		queue := "keda-" + string(rune('a'+i))
		took = append(took, activation(t, keda, c, queue))
	}
	slices.Sort(took)
	t.Logf("first task -> StreamIsActive true, %d runs: min %v, median %v, max %v", rounds, took[0], took[rounds/2], took[rounds-1])
	if took[rounds-1] >= 4*time.Second {
		t.Fatalf("slowest activation %v: not pushed by the backlog watch", took[rounds-1])
	}
}

// activation opens StreamIsActive on an empty queue, adds a task and returns how long the
// stream took to say true.
func activation(t *testing.T, keda esv1.ExternalScalerClient, c *client.Client, queue string) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := keda.StreamIsActive(ctx, &esv1.ScaledObjectRef{Name: "workers", Namespace: "e2e", ScalerMetadata: map[string]string{"queue": queue}})
	if err != nil {
		t.Fatal(err)
	}
	if first, err := stream.Recv(); err != nil || first.Result {
		t.Fatalf("first activation of empty queue %s: %v, %v", queue, first, err)
	}
	start := time.Now()
	if _, err := c.AddTask(ctx, client.Task{Queue: queue, Type: "echo"}); err != nil {
		t.Fatal(err)
	}
	res, err := stream.Recv()
	if err != nil || !res.Result {
		t.Fatalf("activation of %s after its first task: %v, %v", queue, res, err)
	}
	return time.Since(start)
}
