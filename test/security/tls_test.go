package security

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/durationpb"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/auth"
	"github.com/taskroute/taskroute/internal/certs"
)

// TestClientWithoutTheCAIsRefused: TLS is verified; a client trusting another CA, or
// none, or talking plaintext gets nowhere.
func TestClientWithoutTheCAIsRefused(t *testing.T) {
	srv := startServer(t)
	ns := cluster.NewNamespace(t, "team")
	newServiceAccount(t, ns, "worker")
	token := requestToken(t, ns, "worker", auth.DefaultAudience, nil)
	ctx := callCtx(t)
	describe := func(c matchingv1.MatchingServiceClient) error {
		_, err := c.DescribeQueue(ctx, &matchingv1.DescribeQueueRequest{Namespace: ns, Queue: "jobs"})
		return err
	}
	if err := describe(dial(t, srv.addr, srv.caFile, token)); err != nil {
		t.Fatalf("a client trusting the CA: %v", err)
	}
	other, _ := certs.NewCA("someone-else", time.Now(), time.Hour)
	otherFile := filepath.Join(t.TempDir(), "other.crt")
	_ = os.WriteFile(otherFile, other.CertPEM, 0o644)
	if err := describe(dial(t, srv.addr, otherFile, token)); err == nil {
		t.Fatal("a client trusting another CA was served")
	}
	conn, err := grpc.NewClient(srv.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := describe(matchingv1.NewMatchingServiceClient(conn)); err == nil {
		t.Fatal("a plaintext client was served")
	}
}

// servingSerial does a TLS handshake and returns the serial of the server's certificate.
func servingSerial(t *testing.T, srv *matchingServer) string {
	t.Helper()
	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(srv.caFile)
	pool.AppendCertsFromPEM(pem)
	conn, err := tls.Dial("tcp", srv.addr, &tls.Config{RootCAs: pool, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

// TestCertificateRotationKeepsLongPollsAndTasks: renewing the serving certificate while
// long polls wait and tasks flow drops no poll and loses no task; new connections get
// the new certificate.
func TestCertificateRotationKeepsLongPollsAndTasks(t *testing.T) {
	srv := startServer(t)
	ns := cluster.NewNamespace(t, "team")
	newServiceAccount(t, ns, "worker")
	token := requestToken(t, ns, "worker", auth.DefaultAudience, nil)
	producer := dial(t, srv.addr, srv.caFile, token)
	workerConn := dial(t, srv.addr, srv.caFile, token)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// Long polls on an idle queue, started before the rotation.
	const idlePolls = 4
	pollErrs := make(chan error, idlePolls)
	for i := range idlePolls {
		go func() {
			pctx, pcancel := context.WithTimeout(ctx, 8*time.Second)
			defer pcancel()
			_, err := workerConn.PollTasks(pctx, &matchingv1.PollTasksRequest{Namespace: ns, Queue: "idle", WorkerIdentity: fmt.Sprintf("idle-%d", i), MaxTasks: 1})
			pollErrs <- err
		}()
	}
	// Workers completing tasks of queue "jobs" throughout.
	var completed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("worker-%d", i)
			for {
				select {
				case <-stop:
					return
				default:
				}
				pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
				res, err := workerConn.PollTasks(pctx, &matchingv1.PollTasksRequest{Namespace: ns, Queue: "jobs", WorkerIdentity: id, MaxTasks: 4})
				pcancel()
				if err != nil {
					if ctx.Err() == nil {
						t.Errorf("worker poll: %v", err)
					}
					return
				}
				for _, task := range res.Tasks {
					if _, err := workerConn.CompleteTask(ctx, &matchingv1.CompleteTaskRequest{Namespace: ns, TaskId: task.TaskId, LeaseId: task.LeaseId, WorkerIdentity: id, Result: []byte("done")}); err != nil {
						t.Errorf("complete %s: %v", task.TaskId, err)
						continue
					}
					completed.Add(1)
				}
			}
		}()
	}

	before := servingSerial(t, srv)
	const tasks = 40
	add := func(i int) {
		if _, err := producer.AddTask(ctx, &matchingv1.AddTaskRequest{Task: &matchingv1.TaskSpec{
			Namespace: ns, Queue: "jobs", TaskId: fmt.Sprintf("task-%d", i), TaskType: "t",
			StartToCloseTimeout: durationpb.New(time.Minute),
		}}); err != nil {
			t.Errorf("add task-%d: %v", i, err)
		}
	}
	for i := range tasks / 2 {
		add(i)
	}
	// The idle polls wait in the service before the rotation (else they would not span it).
	waitForPollers(t, producer, ns, "idle", idlePolls)
	// Force a renewal: past 2/3 of the serving certificate's hour.
	srv.clock.Step(45 * time.Minute)
	if err := srv.ca.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	for i := tasks / 2; i < tasks; i++ {
		add(i)
	}
	after := servingSerial(t, srv)
	if before == after {
		t.Fatalf("the serving certificate was not renewed (serial %s)", before)
	}

	for range idlePolls {
		if err := <-pollErrs; err != nil {
			t.Errorf("a long poll started before the rotation failed: %v", err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for completed.Load() < tasks && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	for i := range tasks {
		res, err := producer.GetTask(ctx, &matchingv1.GetTaskRequest{Namespace: ns, TaskId: fmt.Sprintf("task-%d", i)})
		if err != nil || res.Task.State != matchingv1.TaskState_TASK_STATE_COMPLETED {
			t.Errorf("task-%d after rotation: %v, %v", i, res, err)
		}
	}
	// A brand-new client verifies the renewed certificate with the same bundle.
	if _, err := dial(t, srv.addr, srv.caFile, token).DescribeQueue(ctx, &matchingv1.DescribeQueueRequest{Namespace: ns, Queue: "jobs"}); err != nil {
		t.Fatalf("a new connection after rotation: %v", err)
	}
}

// waitForPollers waits (bounded) until the service lists n pollers of the queue.
func waitForPollers(t *testing.T, c matchingv1.MatchingServiceClient, ns, queue string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		d, err := c.DescribeQueue(context.Background(), &matchingv1.DescribeQueueRequest{Namespace: ns, Queue: queue})
		if err != nil {
			t.Fatalf("describe %s: %v", queue, err)
		}
		if len(d.Pollers) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d pollers of %s listed after 10s", len(d.Pollers), n, queue)
		}
		time.Sleep(10 * time.Millisecond) // bounded polling of the service's state
	}
}
