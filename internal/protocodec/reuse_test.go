package protocodec

import (
	"testing"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

// TestUnmarshalIntoReusedMessage decodes different stream responses one after another into
// one message: each decode equals a decode into a new message (nothing of the one before
// survives), and the Tasks and acknowledgements of a push reuse those of the push before.
func TestUnmarshalIntoReusedMessage(t *testing.T) {
	c := New()
	msgs := streamMessages()
	seq := []proto.Message{started(3), msgs["acks"], started(1), msgs["dispatch ended"], started(3), msgs["accepts failures"], msgs["acks"]}
	reused := &matchingv1.WorkerStreamResponse{}
	for i, m := range seq {
		wire, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(wire)}, reused); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !proto.Equal(reused, m) {
			t.Fatalf("message %d decoded into a reused message:\n got %v\nwant %v", i, reused, m)
		}
	}

	wire, err := proto.Marshal(started(64))
	if err != nil {
		t.Fatal(err)
	}
	fresh := testing.AllocsPerRun(20, func() {
		_ = c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(wire)}, &matchingv1.WorkerStreamResponse{})
	})
	again := testing.AllocsPerRun(20, func() {
		_ = c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(wire)}, reused)
	})
	t.Logf("64 tasks: %.0f allocations into a new message, %.0f into a reused one", fresh, again)
	if fresh-again < 64 {
		t.Errorf("a reused message saved %.0f allocations for 64 tasks; want at least one per Task", fresh-again)
	}
}
