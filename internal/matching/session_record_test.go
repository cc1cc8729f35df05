package matching

import "testing"

// TestTaskRecordKeepsSession: a task's session survives its record's round trip, and a
// record written before sessions existed decodes as belonging to none.
func TestTaskRecordKeepsSession(t *testing.T) {
	tk := &task{ns: "ns", queue: "q", id: "x", state: stateScheduled, session: "s-1",
		requires: []capability{{capabilityProcess, "p1"}}}
	b := tk.encode(nil)
	got, err := decodeTask(b)
	if err != nil || got.session != "s-1" || got.route != routeKey(tk.requires) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	// Drop the session and the preference count, fairness key and weight appended after it (0 each, one byte).
	old := b[:len(b)-len(appendString(nil, "s-1"))-3]
	got, err = decodeTask(old)
	if err != nil || got.session != "" || len(got.requires) != 1 {
		t.Fatalf("record without a session: %+v, %v", got, err)
	}
}
