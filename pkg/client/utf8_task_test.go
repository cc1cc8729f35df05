package client

import (
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

const badUTF8 = "bad\xff"

// invalidPlacements returns one copy of an empty m per place a string can be in it,
// nested messages, list elements, map keys and values included, holding badUTF8 there.
func invalidPlacements(m protoreflect.Message, depth int) []protoreflect.Message {
	if depth > 4 {
		return nil
	}
	var out []protoreflect.Message
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		out = append(out, fieldPlacements(m, fields.Get(i), depth)...)
	}
	return out
}

// fieldPlacements returns copies of m with badUTF8 at each place within field fd.
func fieldPlacements(m protoreflect.Message, fd protoreflect.FieldDescriptor, depth int) []protoreflect.Message {
	fresh := func() protoreflect.Message { return m.New() }
	var out []protoreflect.Message
	switch {
	case fd.IsMap():
		if fd.MapKey().Kind() == protoreflect.StringKind {
			c := fresh()
			c.Mutable(fd).Map().Set(protoreflect.ValueOfString(badUTF8).MapKey(), c.Mutable(fd).Map().NewValue())
			out = append(out, c)
		}
		if fd.MapValue().Kind() == protoreflect.StringKind {
			c := fresh()
			c.Mutable(fd).Map().Set(protoreflect.ValueOfString("k").MapKey(), protoreflect.ValueOfString(badUTF8))
			out = append(out, c)
		}
	case fd.Kind() == protoreflect.StringKind && fd.IsList():
		c := fresh()
		c.Mutable(fd).List().Append(protoreflect.ValueOfString(badUTF8))
		out = append(out, c)
	case fd.Kind() == protoreflect.StringKind:
		c := fresh()
		c.Set(fd, protoreflect.ValueOfString(badUTF8))
		out = append(out, c)
	case fd.Kind() == protoreflect.MessageKind && fd.IsList():
		for _, inner := range invalidPlacements(m.Mutable(fd).List().NewElement().Message(), depth+1) {
			c := fresh()
			c.Mutable(fd).List().Append(protoreflect.ValueOfMessage(inner))
			out = append(out, c)
		}
	case fd.Kind() == protoreflect.MessageKind:
		for _, inner := range invalidPlacements(m.NewField(fd).Message(), depth+1) {
			c := fresh()
			c.Set(fd, protoreflect.ValueOfMessage(inner))
			out = append(out, c)
		}
	}
	return out
}

// TestDirectUTF8CheckCoversEveryString: for every place a string can be in an add request
// (found by reflection, so a field added to the proto is covered), the direct check
// refuses it with the path the reflective walk names; a valid request passes both.
func TestDirectUTF8CheckCoversEveryString(t *testing.T) {
	for _, req := range []proto.Message{&matchingv1.AddTaskRequest{}, &matchingv1.AddTasksRequest{}} {
		placements := invalidPlacements(req.ProtoReflect(), 0)
		if len(placements) < 13 { // TaskSpec alone holds 13 places
			t.Fatalf("%T: only %d places found", req, len(placements))
		}
		for _, m := range placements {
			want := invalidUTF8Path(m)
			if want == "" {
				t.Fatalf("reflective walk passed %v", m.Interface())
			}
			if got := invalidUTF8Request(m.Interface()); got != want {
				t.Errorf("%T with %s invalid: direct check named %q; want %q", req, want, got, want)
			}
		}
	}
	if got := invalidUTF8Request(validAddTasks(3)); got != "" {
		t.Errorf("valid request refused at %q", got)
	}
}

// TestDirectUTF8CheckDoesNotAllocate: the check of a valid add costs no allocation.
func TestDirectUTF8CheckDoesNotAllocate(t *testing.T) {
	req := validAddTasks(100)
	if n := testing.AllocsPerRun(10, func() { invalidUTF8Request(req) }); n != 0 {
		t.Fatalf("%.1f allocations per batch", n)
	}
}

// validAddTasks is an AddTasks request of n valid tasks with every kind of string set.
func validAddTasks(n int) *matchingv1.AddTasksRequest {
	req := &matchingv1.AddTasksRequest{}
	for i := 0; i < n; i++ {
		req.Tasks = append(req.Tasks, &matchingv1.TaskSpec{
			Namespace: "bench", Queue: "q", TaskId: fmt.Sprint("t-", i), TaskType: "t",
			Payload: make([]byte, 100), Headers: map[string]string{"k": "v"},
			StartToCloseTimeout: durationpb.New(0), SessionId: "s", FairnessKey: "f",
			Requires:    []*matchingv1.Capability{{Name: "gpu", Value: "a100"}},
			Prefers:     []*matchingv1.PreferredCapability{{Capability: &matchingv1.Capability{Name: "zone", Value: "a"}, Weight: 1}},
			RetryPolicy: &matchingv1.RetryPolicy{NonRetryableErrorTypes: []string{"x"}},
		})
	}
	return req
}

// BenchmarkCheckUTF8Single is the check of one AddTask (a lone task): the direct walk, and
// the reflective walk. The interceptor runs it only after the codec refused a request.
//
//	go test -run XXX -bench CheckUTF8 -benchmem -count 6 ./pkg/client/
func BenchmarkCheckUTF8Single(b *testing.B) {
	req := &matchingv1.AddTaskRequest{Task: validAddTasks(1).Tasks[0]}
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if f := invalidUTF8Request(req); f != "" {
				b.Fatal(f)
			}
		}
	})
	b.Run("reflect", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if f := invalidUTF8Path(req.ProtoReflect()); f != "" {
				b.Fatal(f)
			}
		}
	})
}
