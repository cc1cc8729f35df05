package matching

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/clock"
)

// admitAdd is the handler's path: quota admission, then the add.
func admitAdd(e *Engine, specs ...*matchingv1.TaskSpec) error {
	release, err := e.AdmitAdds(specs)
	if err != nil {
		return err
	}
	defer release()
	_, err = e.AddTasks(context.Background(), specs)
	return err
}

func inNS(ns string) func(*matchingv1.TaskSpec) {
	return func(s *matchingv1.TaskSpec) { s.Namespace = ns }
}
func inQueue(q string) func(*matchingv1.TaskSpec) {
	return func(s *matchingv1.TaskSpec) { s.Queue = q }
}

func wantExhausted(t *testing.T, err error, parts ...string) {
	t.Helper()
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("got %v, want ResourceExhausted", err)
	}
	for _, p := range parts {
		if !strings.Contains(status.Convert(err).Message(), p) {
			t.Fatalf("message %q does not contain %q", status.Convert(err).Message(), p)
		}
	}
}

func TestQuotaBacklog(t *testing.T) {
	dir := t.TempDir()
	v := open(t, dir, Options{Quotas: Quotas{Default: Quota{MaxBacklog: 3}}})
	e := v.e
	for _, id := range []string{"a", "b"} {
		if err := admitAdd(e, tspec(id)); err != nil {
			t.Fatal(err)
		}
	}
	// A batch of 2 with one slot left is refused whole.
	err := admitAdd(e, tspec("c"), tspec("d"))
	wantExhausted(t, err, `namespace "ns" is at its backlog quota of 3 tasks`, "--quota-max-backlog")
	if n, _ := e.NamespaceUsage("ns"); n != 2 {
		t.Fatalf("backlog after refused batch = %d, want 2", n)
	}
	if err := admitAdd(e, tspec("c")); err != nil {
		t.Fatal(err)
	}
	wantExhausted(t, admitAdd(e, tspec("e")), "backlog quota of 3")
	// Another namespace has its own quota.
	if err := admitAdd(e, tspec("x", inNS("other")), tspec("y", inNS("other")), tspec("z", inNS("other"))); err != nil {
		t.Fatalf("other namespace: %v", err)
	}

	// Restart: the backlog is counted again from storage.
	v.close()
	v = open(t, dir, Options{Quotas: Quotas{Default: Quota{MaxBacklog: 3}}})
	e = v.e
	if n, q := e.NamespaceUsage("ns"); n != 3 || q != 1 {
		t.Fatalf("recovered usage = %d tasks in %d queues, want 3 in 1", n, q)
	}
	wantExhausted(t, admitAdd(e, tspec("e")), "backlog quota of 3")
	// Dispatch frees a slot; finishing does not change it again.
	tk := pollN(t, e, "q", 1, time.Second)
	if n, _ := e.NamespaceUsage("ns"); n != 2 {
		t.Fatalf("backlog after dispatch = %d, want 2", n)
	}
	if err := e.Complete("ns", tk[0].TaskId, tk[0].LeaseId, nil); err != nil {
		t.Fatal(err)
	}
	if err := admitAdd(e, tspec("e")); err != nil {
		t.Fatal(err)
	}
	// Cancel of a waiting task and release of a running one keep the count exact.
	if _, err := e.Cancel("ns", "e", ""); err != nil {
		t.Fatal(err)
	}
	tk = pollN(t, e, "q", 1, time.Second)
	if err := e.Release("ns", tk[0].TaskId, tk[0].LeaseId); err != nil {
		t.Fatal(err)
	}
	if n, _ := e.NamespaceUsage("ns"); n != 2 {
		t.Fatalf("backlog after cancel and release = %d, want 2", n)
	}
}

func TestQuotaPayloadWithOverride(t *testing.T) {
	v := open(t, t.TempDir(), Options{Quotas: Quotas{
		Default:   Quota{MaxPayloadBytes: 8},
		Overrides: map[string]Quota{"big": {MaxPayloadBytes: 100}},
	}})
	big := func(s *matchingv1.TaskSpec) { s.Payload = make([]byte, 9) }
	wantExhausted(t, admitAdd(v.e, tspec("a", big)), `namespace "ns" is over its payload quota of 8 bytes: the task's payload has 9 bytes`, "--quota-max-payload-bytes")
	if err := admitAdd(v.e, tspec("a", big, inNS("big"))); err != nil {
		t.Fatalf("override: %v", err)
	}
	v.e.SetQuotas(Quotas{Overrides: map[string]Quota{"big": {MaxPayloadBytes: 4}}})
	wantExhausted(t, admitAdd(v.e, tspec("b", big, inNS("big"))), "payload quota of 4 bytes", `maxPayloadBytes of namespace "big" in ConfigMap taskroute-quotas`)
	if err := admitAdd(v.e, tspec("a", big)); err != nil {
		t.Fatalf("default now unlimited: %v", err)
	}
}

func TestQuotaQueues(t *testing.T) {
	v := open(t, t.TempDir(), Options{Quotas: Quotas{Default: Quota{MaxQueues: 2}}})
	e := v.e
	if err := admitAdd(e, tspec("a", inQueue("q1")), tspec("b", inQueue("q2"))); err != nil {
		t.Fatal(err)
	}
	wantExhausted(t, admitAdd(e, tspec("c", inQueue("q3"))), "queue quota of 2 queues", "--quota-max-queues")
	if err := admitAdd(e, tspec("c", inQueue("q1"))); err != nil {
		t.Fatalf("existing queue: %v", err)
	}
	if err := admitAdd(e, tspec("c", inQueue("q3"), inNS("other"))); err != nil {
		t.Fatalf("other namespace: %v", err)
	}
	// Draining q2 frees its place.
	if got := drain(t, e, "q2", 1); len(got) != 1 {
		t.Fatalf("drained %d", len(got))
	}
	if err := admitAdd(e, tspec("d", inQueue("q3"))); err != nil {
		t.Fatalf("after draining q2: %v", err)
	}
}

func TestQuotaAddRate(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	v := open(t, t.TempDir(), Options{Clock: clk, Quotas: Quotas{Default: Quota{AddRate: 10, AddBurst: 5}}})
	e := v.e
	specs := func(prefix string, n int, mods ...func(*matchingv1.TaskSpec)) []*matchingv1.TaskSpec {
		var out []*matchingv1.TaskSpec
		for i := range n {
			out = append(out, tspec(prefix+string(rune('a'+i)), mods...))
		}
		return out
	}
	if err := admitAdd(e, specs("a", 4)...); err != nil {
		t.Fatal(err)
	}
	wantExhausted(t, admitAdd(e, specs("b", 2)...), "add rate quota of 10 tasks/s (burst 5): batch of 2 tasks", "--quota-add-rate")
	if err := admitAdd(e, specs("c", 1)...); err != nil {
		t.Fatal(err)
	}
	wantExhausted(t, admitAdd(e, specs("d", 1)...), "add rate quota")
	if err := admitAdd(e, specs("d", 5, inNS("other"))...); err != nil {
		t.Fatalf("other namespace: %v", err)
	}
	clk.Advance(200 * time.Millisecond) // 2 tokens
	if err := admitAdd(e, specs("e", 2)...); err != nil {
		t.Fatalf("after refill: %v", err)
	}
}

func TestQuotaBatchAcrossNamespacesAllOrNothing(t *testing.T) {
	v := open(t, t.TempDir(), Options{Quotas: Quotas{Default: Quota{AddRate: 1, AddBurst: 2}, Overrides: map[string]Quota{"full": {MaxBacklog: 1}}}})
	e := v.e
	if err := admitAdd(e, tspec("f1", inNS("full"))); err != nil {
		t.Fatal(err)
	}
	// ns would pass, full would not: nothing is added and ns keeps its rate tokens.
	wantExhausted(t, admitAdd(e, tspec("a"), tspec("b"), tspec("f2", inNS("full"))), `namespace "full" is at its backlog quota of 1 tasks`)
	if n, _ := e.NamespaceUsage("ns"); n != 0 {
		t.Fatalf("ns backlog = %d after refused batch", n)
	}
	if err := admitAdd(e, tspec("a"), tspec("b")); err != nil {
		t.Fatalf("tokens were not refunded: %v", err)
	}
}
