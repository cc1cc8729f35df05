package matching

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/taskroute/taskroute/pkg/client"
)

// TestSessionWorkerKilled: a session's tasks run only on the session's worker process.
// When that worker is killed -9 with the session open, the session fails within the
// liveness timeout plus a second, its waiting tasks fail with SessionFailed, a caller's
// WaitForResult returns that failure as promptly, no task of the session runs on the
// other worker, and adding to the failed session is refused.
func TestSessionWorkerKilled(t *testing.T) {
	const liveness = 3 * time.Second
	s := startServer(t, "", "--matching-worker-liveness-timeout="+liveness.String())
	c := s.client()
	defer c.Close()
	ctx := context.Background()
	workers := map[string]*workerProc{
		"w1": startWorker(t, s.addr, workerConfig{queue: "sess", types: "session,sleep", slots: 1, sessions: 2, id: "w1"}),
		"w2": startWorker(t, s.addr, workerConfig{queue: "sess", types: "session,sleep", slots: 1, sessions: 2, id: "w2"}),
	}
	waitLive(t, c, "sess", 2)

	sess, err := c.CreateSession(ctx, "sess", client.SessionOptions{ID: "upload-1"})
	if err != nil {
		t.Fatal(err)
	}
	owner := workers[strings.SplitN(sess.WorkerIdentity, "-", 2)[0]]
	if sess.State != client.SessionOpen || !sess.Created || owner == nil {
		t.Fatalf("created session = %+v", sess)
	}
	var other *workerProc
	for _, w := range workers {
		if w != owner {
			other = w
		}
	}
	// Session tasks run on the session's process and see the session id.
	var ran []string
	for i := range 5 {
		id := fmt.Sprintf("step-%d", i)
		ran = append(ran, id)
		if _, err := c.AddTask(ctx, client.Task{ID: id, Queue: "sess", Type: "session", SessionID: sess.ID}); err != nil {
			t.Fatal(err)
		}
	}
	for id, info := range waitAll(t, c, ran, 30*time.Second) {
		if want := sess.ID + "\n" + sess.WorkerProcess; string(info.Result) != want || info.SessionID != sess.ID {
			t.Fatalf("%s: result %q session %q, want %q", id, info.Result, info.SessionID, want)
		}
	}

	// The owner's only slot is busy, so the next session tasks wait in the queue.
	if _, err := c.AddTask(ctx, client.Task{ID: "busy", Queue: "sess", Type: "sleep", Payload: []byte("1h"), SessionID: sess.ID}); err != nil {
		t.Fatal(err)
	}
	waitState(t, c, "busy", client.StateStarted, 20*time.Second)
	var waiting []string
	for i := range 10 {
		id := fmt.Sprintf("waiting-%d", i)
		waiting = append(waiting, id)
		if _, err := c.AddTask(ctx, client.Task{ID: id, Queue: "sess", Type: "session", SessionID: sess.ID}); err != nil {
			t.Fatal(err)
		}
	}
	waited := make(chan *client.TaskInfo, 1)
	go func() {
		info, err := c.WaitForResult(ctx, waiting[0])
		if err != nil {
			t.Error(err)
		}
		waited <- info
	}()

	killed := time.Now()
	owner.kill()
	info := <-waited
	tookWait := time.Since(killed)
	if info == nil || info.State != client.StateFailed || info.Failure == nil || info.Failure.ErrorType != client.ErrorTypeSessionFailed {
		t.Fatalf("WaitForResult after the kill = %+v", info)
	}
	for _, id := range waiting {
		info := waitState(t, c, id, client.StateFailed, liveness+10*time.Second)
		if info.Failure == nil || info.Failure.ErrorType != client.ErrorTypeSessionFailed {
			t.Fatalf("%s failed with %+v, want SessionFailed", id, info.Failure)
		}
	}
	took := time.Since(killed)
	t.Logf("WaitForResult returned %v and every waiting task had failed %v after the kill (liveness %v)", tookWait, took, liveness)
	if tookWait > liveness+time.Second || took > liveness+time.Second+200*time.Millisecond {
		t.Errorf("session tasks failed %v (WaitForResult %v) after the kill, want within the liveness timeout %v plus 1s", took, tookWait, liveness)
	}
	got, err := c.GetSession(ctx, sess.ID)
	if err != nil || got.State != client.SessionFailed || got.Failure == "" {
		t.Fatalf("session after the kill = %+v, %v", got, err)
	}
	_, err = c.AddTask(ctx, client.Task{ID: "late", Queue: "sess", Type: "session", SessionID: sess.ID})
	wantCode(t, err, codes.FailedPrecondition, "FAILED")

	other.terminate(10 * time.Second)
	for id := range other.executions() {
		if strings.HasPrefix(id, "step-") || strings.HasPrefix(id, "waiting-") || id == "busy" {
			t.Errorf("session task %s ran on the other worker %s", id, other.id)
		}
	}
}

// TestSessionSlotLimitUnderConcurrentCreation: many callers create sessions at once over
// gRPC; the service never binds more sessions to a worker than its slots, and a completed
// session frees its slot.
func TestSessionSlotLimitUnderConcurrentCreation(t *testing.T) {
	s := startServer(t, "")
	c := s.client()
	defer c.Close()
	ctx := context.Background()
	startWorker(t, s.addr, workerConfig{queue: "limits", types: "session", slots: 1, sessions: 3, id: "l1"})
	startWorker(t, s.addr, workerConfig{queue: "limits", types: "session", slots: 1, sessions: 3, id: "l2"})
	waitLive(t, c, "limits", 2)

	const creators = 64
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		perWorker = map[string]int{}
		refused   int
		created   []string
	)
	start := make(chan struct{})
	for i := range creators {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			sess, err := c.CreateSession(ctx, "limits", client.SessionOptions{ID: fmt.Sprintf("s-%02d", i)})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				perWorker[sess.WorkerIdentity]++
				created = append(created, sess.ID)
			case status.Code(err) == codes.ResourceExhausted:
				refused++
			default:
				t.Errorf("CreateSession: %v", err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if len(created) != 6 || refused != creators-6 {
		t.Fatalf("%d sessions created (%v), %d refused; want 6 and %d", len(created), perWorker, refused, creators-6)
	}
	for w, n := range perWorker {
		if n != 3 {
			t.Errorf("worker %s got %d sessions, want its 3 slots", w, n)
		}
	}
	d, err := c.DescribeQueue(ctx, "limits")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range d.Pollers {
		if p.OpenSessions != 3 || p.MaxSessions != 3 {
			t.Errorf("poller %s: %d/%d sessions, want 3/3", p.Identity, p.OpenSessions, p.MaxSessions)
		}
	}
	if _, err := c.CompleteSession(ctx, created[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateSession(ctx, "limits", client.SessionOptions{ID: "after-complete"}); err != nil {
		t.Fatalf("creating after a completion freed a slot: %v", err)
	}
}

// TestSessionErrors: unknown sessions are NotFound; a session task on another queue is
// InvalidArgument naming the field; a completed session refuses new tasks.
func TestSessionErrors(t *testing.T) {
	s := startServer(t, "")
	c := s.client()
	defer c.Close()
	ctx := context.Background()
	startWorker(t, s.addr, workerConfig{queue: "errs", types: "session", sessions: 1, id: "e1"})
	waitLive(t, c, "errs", 1)

	_, err := c.GetSession(ctx, "nope")
	wantCode(t, err, codes.NotFound, "nope")
	_, err = c.CompleteSession(ctx, "nope")
	wantCode(t, err, codes.NotFound, "nope")
	_, err = c.AddTask(ctx, client.Task{Queue: "errs", Type: "session", SessionID: "nope"})
	wantCode(t, err, codes.NotFound, "task.session_id")

	sess, err := c.CreateSession(ctx, "errs", client.SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.AddTask(ctx, client.Task{Queue: "elsewhere", Type: "session", SessionID: sess.ID})
	wantCode(t, err, codes.InvalidArgument, "task.session_id")
	_, err = c.AddTasks(ctx, []client.Task{{Queue: "errs", Type: "session"}, {Queue: "elsewhere", Type: "session", SessionID: sess.ID}})
	wantCode(t, err, codes.InvalidArgument, "tasks[1].session_id")
	_, err = c.CreateSession(ctx, "errs", client.SessionOptions{})
	wantCode(t, err, codes.ResourceExhausted, "free session slot")

	if done, err := c.CompleteSession(ctx, sess.ID); err != nil || done.State != client.SessionCompleted {
		t.Fatalf("CompleteSession = %+v, %v", done, err)
	}
	_, err = c.AddTask(ctx, client.Task{Queue: "errs", Type: "session", SessionID: sess.ID})
	wantCode(t, err, codes.FailedPrecondition, "COMPLETED")
}

// TestSessionsSurviveRestart: sessions are stored. After a kill -9 of the service, a
// session whose worker reconnects within the liveness timeout continues (its tasks run on
// that worker); one whose worker died meanwhile fails one liveness timeout after the
// restart, and its waiting task fails with SessionFailed.
func TestSessionsSurviveRestart(t *testing.T) {
	const liveness = 3 * time.Second
	dir := t.TempDir()
	s := startServer(t, dir, "--matching-worker-liveness-timeout="+liveness.String())
	c := s.client()
	defer c.Close()
	ctx := context.Background()
	a := startWorker(t, s.addr, workerConfig{queue: "restart", types: "session,sleep", slots: 1, sessions: 1, id: "ra"})
	b := startWorker(t, s.addr, workerConfig{queue: "restart", types: "session,sleep", slots: 1, sessions: 1, id: "rb"})
	waitLive(t, c, "restart", 2)
	s1, err := c.CreateSession(ctx, "restart", client.SessionOptions{ID: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	s2, err := c.CreateSession(ctx, "restart", client.SessionOptions{ID: "s2"})
	if err != nil {
		t.Fatal(err)
	}
	// s1 stays on the surviving worker, s2 (on the other one) is doomed.
	survivor, doomed, liveSession, doomedSession := a, b, s1, s2
	if strings.HasPrefix(s1.WorkerIdentity, "rb-") {
		survivor, doomed = b, a
	}
	// The doomed worker's slot is busy, so its session's next task waits.
	if _, err := c.AddTask(ctx, client.Task{ID: "busy", Queue: "restart", Type: "sleep", Payload: []byte("1h"), SessionID: doomedSession.ID}); err != nil {
		t.Fatal(err)
	}
	waitState(t, c, "busy", client.StateStarted, 20*time.Second)
	if _, err := c.AddTask(ctx, client.Task{ID: "stranded", Queue: "restart", Type: "session", SessionID: doomedSession.ID}); err != nil {
		t.Fatal(err)
	}

	s.kill()
	doomed.kill()
	s.restart()
	restarted := time.Now()
	for _, id := range []string{liveSession.ID, doomedSession.ID} {
		if got, err := c.GetSession(ctx, id); err != nil || got.State != client.SessionOpen {
			t.Fatalf("session %s after the restart = %+v, %v", id, got, err)
		}
	}
	if _, err := c.AddTask(ctx, client.Task{ID: "after", Queue: "restart", Type: "session", SessionID: liveSession.ID}); err != nil {
		t.Fatal(err)
	}
	info := waitState(t, c, "after", client.StateCompleted, 30*time.Second)
	if want := liveSession.ID + "\n" + liveSession.WorkerProcess; string(info.Result) != want {
		t.Fatalf("task of the surviving session ran as %q, want %q", info.Result, want)
	}
	failed := waitState(t, c, "stranded", client.StateFailed, liveness+10*time.Second)
	if failed.Failure == nil || failed.Failure.ErrorType != client.ErrorTypeSessionFailed {
		t.Fatalf("stranded task failed with %+v", failed.Failure)
	}
	t.Logf("the dead worker's session task failed %v after the restart (liveness %v)", time.Since(restarted), liveness)
	if got, err := c.GetSession(ctx, doomedSession.ID); err != nil || got.State != client.SessionFailed {
		t.Fatalf("session of the dead worker = %+v, %v", got, err)
	}
	if got, err := c.GetSession(ctx, liveSession.ID); err != nil || got.State != client.SessionOpen {
		t.Fatalf("session of the live worker = %+v, %v", got, err)
	}
	survivor.terminate(10 * time.Second)
}

// wantCode fails unless err has code and its message contains substr.
func wantCode(t *testing.T, err error, code codes.Code, substr string) {
	t.Helper()
	if st, ok := status.FromError(err); !ok || st.Code() != code || !strings.Contains(st.Message(), substr) {
		t.Fatalf("error %v, want %s containing %q", err, code, substr)
	}
}
