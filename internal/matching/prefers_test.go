package matching

import (
	"context"
	"testing"
	"time"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/clock"
	"github.com/taskroute/taskroute/internal/queueconfig"
	"github.com/taskroute/taskroute/internal/storage"
	"github.com/taskroute/taskroute/internal/storage/pebblestore"
)

func capab(name, value string) *matchingv1.Capability {
	return &matchingv1.Capability{Name: name, Value: value}
}

func prefer(name, value string, weight int32) *matchingv1.PreferredCapability {
	return &matchingv1.PreferredCapability{Capability: capab(name, value), Weight: weight}
}

// startPoll polls queue q as worker id in the background; its answer arrives on the channel.
func startPoll(t *testing.T, e *Engine, id string, caps ...*matchingv1.Capability) <-chan []*matchingv1.Task {
	t.Helper()
	ch := make(chan []*matchingv1.Task, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		got, err := e.Poll(ctx, &matchingv1.PollTasksRequest{Namespace: "ns", Queue: "q", WorkerIdentity: id, MaxTasks: 1, Capabilities: caps})
		if err != nil {
			t.Errorf("poll of %s: %v", id, err)
		}
		ch <- got
	}()
	return ch
}

// parked returns the identities of the activity polls waiting on queue q with nothing
// handed to them yet.
func parked(e *Engine) []string {
	q := e.queue("ns", "q")
	q.mu.Lock()
	defer q.mu.Unlock()
	var ids []string
	for _, p := range q.sub(kindActivity).matcher.waiting {
		if len(p.got) == 0 {
			ids = append(ids, p.owner.Identity)
		}
	}
	return ids
}

// waitParked waits (bounded) until n polls wait with nothing handed to them.
func waitParked(t *testing.T, e *Engine, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(parked(e)) != n {
		if time.Now().After(deadline) {
			t.Fatalf("parked polls %v, want %d", parked(e), n)
		}
		time.Sleep(time.Millisecond) // bounded polling of the matcher's state
	}
}

func receive(t *testing.T, ch <-chan []*matchingv1.Task, who string) []*matchingv1.Task {
	t.Helper()
	select {
	case got := <-ch:
		return got
	case <-time.After(10 * time.Second):
		t.Fatalf("%s got nothing", who)
		return nil
	}
}

func expectTask(t *testing.T, ch <-chan []*matchingv1.Task, who, id string) {
	t.Helper()
	if got := receive(t, ch, who); len(got) != 1 || got[0].TaskId != id {
		t.Fatalf("%s got %v, want task %s", who, got, id)
	}
}

func preferring(s *matchingv1.TaskSpec) {
	s.Requires = []*matchingv1.Capability{capab("gpu", "")}
	s.Prefers = []*matchingv1.PreferredCapability{prefer("zone", "eu", 10), prefer("disk", "ssd", 50)}
}

// Among waiting capable polls the one whose met preferences weigh most takes the task,
// whatever the order they parked in; a poll meeting no preference is passed over until
// the task has waited the preference wait (500ms by default, stepped clock), and takes it
// then, without another poll or add to wake it.
func TestPreferredPollWinsAndOthersWaitOutThePreferenceWait(t *testing.T) {
	clk := clock.NewFake(time.Now())
	e := open(t, t.TempDir(), Options{Clock: clk}).e
	gpu := capab("gpu", "a100")
	plain := startPoll(t, e, "plain", gpu)
	waitParked(t, e, 1)
	eu := startPoll(t, e, "eu", gpu, capab("zone", "eu"))
	waitParked(t, e, 2)
	ssd := startPoll(t, e, "ssd", gpu, capab("disk", "ssd"))
	waitParked(t, e, 3)

	add(t, e, tspec("t1", preferring))
	expectTask(t, ssd, "the poll meeting the heaviest preference", "t1")
	add(t, e, tspec("t2", preferring))
	expectTask(t, eu, "the poll meeting the other preference", "t2")

	add(t, e, tspec("t3", preferring))
	if ids := parked(e); len(ids) != 1 || ids[0] != "plain" {
		t.Fatalf("a task within its preference wait went to a poll meeting no preference: parked %v", ids)
	}
	d := e.Describe("ns", "q")
	if len(d.Backlog) != 1 || len(d.Backlog[0].Prefers) != 2 || d.Backlog[0].Prefers[0].Weight != 50 {
		t.Fatalf("backlog while held: %v", d.Backlog)
	}
	clk.Advance(499 * time.Millisecond)
	late := startPoll(t, e, "late", gpu) // claims from the backlog: held too
	waitParked(t, e, 2)
	clk.Advance(time.Millisecond)
	expectTask(t, plain, "the longest-waiting poll after the preference wait", "t3")
	if ids := parked(e); len(ids) != 1 || ids[0] != "late" {
		t.Fatalf("parked after the wait: %v", ids)
	}
	info, err := e.Get(context.Background(), "ns", "t3", 0)
	if err != nil || len(info.Prefers) != 2 || info.Prefers[0].Capability.Name != "disk" {
		t.Fatalf("GetTask prefers: %v, %v", info.GetPrefers(), err)
	}
	_ = late
}

// A task that only prefers (requires nothing) is held from a poll without capabilities
// for the preference wait, which the queue configures; with no wait a poll meeting no
// preference takes it at once.
func TestPreferenceWaitIsConfiguredPerQueue(t *testing.T) {
	clk := clock.NewFake(time.Now())
	e := open(t, t.TempDir(), Options{Clock: clk}).e
	cfg := queueconfig.Default()
	cfg.PreferenceWait = 2 * time.Second
	if err := e.Apply(context.Background(), queueconfig.Key{Namespace: "ns", Name: "q"}, cfg); err != nil {
		t.Fatal(err)
	}
	onlyPrefers := func(s *matchingv1.TaskSpec) {
		s.Prefers = []*matchingv1.PreferredCapability{prefer("zone", "eu", 1)}
	}
	add(t, e, tspec("a", onlyPrefers))
	bare := startPoll(t, e, "bare")
	waitParked(t, e, 1)
	clk.Advance(1999 * time.Millisecond)
	if ids := parked(e); len(ids) != 1 {
		t.Fatalf("held task taken before the configured wait: parked %v", ids)
	}
	clk.Advance(time.Millisecond)
	expectTask(t, bare, "a poll meeting no preference after the wait", "a")

	cfg.PreferenceWait = 0
	if err := e.Apply(context.Background(), queueconfig.Key{Namespace: "ns", Name: "q"}, cfg); err != nil {
		t.Fatal(err)
	}
	bare = startPoll(t, e, "bare")
	waitParked(t, e, 1)
	add(t, e, tspec("b", onlyPrefers))
	expectTask(t, bare, "a poll meeting no preference with no wait", "b")
}

// Tasks with preferences keep their partition across a restart: DescribeQueue lists their
// preferences, and a preferring poll takes them at once.
func TestPreferencesSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	v := open(t, dir, Options{})
	add(t, v.e, tspec("kept", preferring))
	v.close()

	e := open(t, dir, Options{}).e
	d := e.Describe("ns", "q")
	if len(d.Backlog) != 1 || len(d.Backlog[0].Prefers) != 2 || len(d.Backlog[0].Requires) != 1 {
		t.Fatalf("backlog after restart: %v", d.Backlog)
	}
	got := pollN(t, e, "q", 1, 5*time.Second, func(r *matchingv1.PollTasksRequest) {
		r.Capabilities = []*matchingv1.Capability{capab("gpu", "t4"), capab("zone", "eu")}
	})
	if len(got) != 1 || got[0].TaskId != "kept" {
		t.Fatalf("preferring poll after restart got %v", got)
	}
}

// A task that waited in the backlog (here for a rate-limit token) still goes to the
// waiting poll that meets the heaviest preferences, not to the poll whose turn in dispatch
// comes first.
func TestBacklogTaskGoesToTheHeaviestPreferringPoll(t *testing.T) {
	clk := clock.NewFake(time.Now())
	e := open(t, t.TempDir(), Options{Clock: clk}).e
	cfg := queueconfig.Default()
	cfg.RateLimit, cfg.Burst = 1, 1
	if err := e.Apply(context.Background(), queueconfig.Key{Namespace: "ns", Name: "q"}, cfg); err != nil {
		t.Fatal(err)
	}
	add(t, e, tspec("token-taker"))
	if got := pollN(t, e, "q", 1, 5*time.Second); len(got) != 1 {
		t.Fatalf("first poll got %v", got)
	}
	gpu := capab("gpu", "a100")
	eu := startPoll(t, e, "eu", gpu, capab("zone", "eu"))
	waitParked(t, e, 1)
	ssd := startPoll(t, e, "ssd", gpu, capab("disk", "ssd"))
	waitParked(t, e, 2)

	add(t, e, tspec("waited", preferring)) // no token: into the backlog
	if ids := parked(e); len(ids) != 2 {
		t.Fatalf("dispatched without a token: parked %v", ids)
	}
	clk.Advance(time.Second) // the next token
	expectTask(t, ssd, "the poll meeting the heaviest preference", "waited")
	if ids := parked(e); len(ids) != 1 || ids[0] != "eu" {
		t.Fatalf("parked after the token: %v", ids)
	}
	_ = eu
}

// A queue configuration stored before the preference wait existed reads back with the
// default wait, not with none.
func TestStoredConfigWithoutPreferenceWaitGetsTheDefault(t *testing.T) {
	dir := t.TempDir()
	st, err := pebblestore.Open(dir, pebblestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := st.NewBatch()
	b.PutConfig(storage.QueueRef{Namespace: "ns", Queue: "old"}, []byte(`{"RateLimit":5,"Burst":2,"PriorityLevels":5,"DefaultPriority":3,"Retention":3600000000000,"SetByAPI":true}`))
	if err := st.Commit(b, true); err != nil {
		t.Fatal(err)
	}
	st.Close()
	e := open(t, dir, Options{}).e
	cfg, managed := e.QueueConfig(queueconfig.Key{Namespace: "ns", Name: "old"})
	if managed || cfg.RateLimit != 5 || cfg.PreferenceWait != queueconfig.DefaultPreferenceWait {
		t.Fatalf("old record read as %+v (managed %v), want rate 5 and the default preference wait", cfg, managed)
	}
}

// Tasks that only prefer (require nothing) are found after a restart by a worker that
// advertises no capabilities.
func TestOnlyPreferringTasksFoundAfterRestartByAnyWorker(t *testing.T) {
	dir := t.TempDir()
	v := open(t, dir, Options{})
	cfg := queueconfig.Default()
	cfg.PreferenceWait = 0
	if err := v.e.Apply(context.Background(), queueconfig.Key{Namespace: "ns", Name: "q"}, cfg); err != nil {
		t.Fatal(err)
	}
	add(t, v.e, tspec("soft", func(s *matchingv1.TaskSpec) {
		s.Prefers = []*matchingv1.PreferredCapability{prefer("zone", "eu", 1)}
	}))
	v.close()

	e := open(t, dir, Options{}).e
	if got := pollN(t, e, "q", 1, 3*time.Second); len(got) != 1 || got[0].TaskId != "soft" {
		t.Fatalf("a worker without capabilities after restart got %v", got)
	}
}
