package client

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

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

// TestUTF8WalkNamesEveryString: for every place a string can be in an add request
// (found by reflection, so a field added to the proto is covered), the walk checkUTF8
// uses after the codec refused a request names a field.
func TestUTF8WalkNamesEveryString(t *testing.T) {
	for _, req := range []proto.Message{&matchingv1.AddTaskRequest{}, &matchingv1.AddTasksRequest{}} {
		placements := invalidPlacements(req.ProtoReflect(), 0)
		if len(placements) < 13 { // TaskSpec alone holds 13 places
			t.Fatalf("%T: only %d places found", req, len(placements))
		}
		for _, m := range placements {
			if invalidUTF8Path(m) == "" {
				t.Fatalf("walk passed %v", m.Interface())
			}
		}
	}
}
