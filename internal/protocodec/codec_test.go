package protocodec

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/structpb"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

// roundTrip marshals m with the codec, checks the bytes are proto.Marshal's, and decodes
// them with the codec into a new message of m's type.
func roundTrip(t *testing.T, m proto.Message) proto.Message {
	t.Helper()
	c := New()
	data, err := c.Marshal(m)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	got := data.Materialize()
	data.Free()
	want, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		t.Fatalf("proto.Marshal: %v", err)
	}
	if !bytes.Equal(got, want) && !decodesEqual(t, got, m) {
		t.Fatalf("codec bytes decode to another message than proto.Marshal's")
	}
	out := m.ProtoReflect().New().Interface()
	if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(got)}, out); err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	if !proto.Equal(out, m) {
		t.Fatalf("round trip changed the message:\n got %v\nwant %v", out, m)
	}
	return out
}

// decodesEqual is true when protobuf-go decodes b to a message equal to m (map order may
// make the bytes differ).
func decodesEqual(t *testing.T, b []byte, m proto.Message) bool {
	t.Helper()
	out := m.ProtoReflect().New().Interface()
	if err := proto.Unmarshal(b, out); err != nil {
		t.Fatalf("proto.Unmarshal of the codec's bytes: %v", err)
	}
	return proto.Equal(out, m)
}

func TestCodecMatchesProtobufGo(t *testing.T) {
	cases := streamMessages()
	cases["add tasks"] = addTasks(50)
	cases["empty"] = &matchingv1.AddTasksRequest{}
	for name, m := range cases {
		t.Run(name, func(t *testing.T) {
			if _, ok := m.(vtMessage); !ok {
				t.Fatalf("%T has no generated vtproto methods", m)
			}
			roundTrip(t, m)
		})
	}
}

func TestCodecPreservesUnknownFields(t *testing.T) {
	// A newer peer's Task with a field this version does not know (number 99) inside
	// a known message: it must survive decode and re-encode unchanged.
	task, _ := proto.Marshal(&matchingv1.Task{TaskId: "t1", LeaseId: "l1"})
	task = protowire.AppendTag(task, 99, protowire.BytesType)
	task = protowire.AppendString(task, "from the future")
	var wire []byte
	wire = protowire.AppendTag(wire, 1, protowire.BytesType)
	wire = protowire.AppendBytes(wire, task)

	c := New()
	got := &matchingv1.WorkerStreamResponse{}
	if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(wire)}, got); err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	if len(got.Tasks) != 1 || len(got.Tasks[0].ProtoReflect().GetUnknown()) == 0 {
		t.Fatalf("unknown field lost: %v", got)
	}
	data, err := c.Marshal(got)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	if out := data.Materialize(); !bytes.Equal(out, wire) {
		t.Fatalf("re-encoded bytes differ:\n got %x\nwant %x", out, wire)
	}
	viaProtobufGo := &matchingv1.WorkerStreamResponse{}
	if err := proto.Unmarshal(wire, viaProtobufGo); err != nil || !proto.Equal(got, viaProtobufGo) {
		t.Fatalf("protobuf-go decodes differently (err %v)", err)
	}
}

func TestCodecKeepsUnknownFieldsOfWellKnownTypes(t *testing.T) {
	// A Duration with an unknown field 5: vtprotobuf's Duration decoder drops it,
	// protobuf-go keeps it, so the codec must leave this message to protobuf-go.
	var d []byte
	d = protowire.AppendTag(d, 1, protowire.VarintType)
	d = protowire.AppendVarint(d, 30)
	d = protowire.AppendTag(d, 5, protowire.VarintType)
	d = protowire.AppendVarint(d, 7)
	var wire []byte
	wire = protowire.AppendTag(wire, 9, protowire.BytesType)
	wire = protowire.AppendBytes(wire, d)
	got := &matchingv1.TaskSpec{}
	if err := New().Unmarshal(mem.BufferSlice{mem.SliceBuffer(wire)}, got); err != nil {
		t.Fatal(err)
	}
	if len(got.StartToCloseTimeout.ProtoReflect().GetUnknown()) == 0 {
		t.Fatal("the Duration's unknown field was dropped")
	}
}

func TestCodecFallsBackWithoutGeneratedMethods(t *testing.T) {
	m, err := structpb.NewStruct(map[string]any{"queue": "emails", "n": 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := any(m).(vtMessage); ok {
		t.Fatal("structpb.Struct unexpectedly has vtproto methods")
	}
	roundTrip(t, m)
}

func TestDecodedBytesDoNotAliasTheInput(t *testing.T) {
	wire, _ := proto.Marshal(started(2))
	got := &matchingv1.WorkerStreamResponse{}
	if err := New().Unmarshal(mem.BufferSlice{mem.SliceBuffer(wire)}, got); err != nil {
		t.Fatal(err)
	}
	want := proto.Clone(got)
	for i := range wire {
		wire[i] = 0xff // what a reused gRPC buffer would do
	}
	if !proto.Equal(got, want) {
		t.Fatal("the decoded message changed with its input buffer")
	}
}

func TestUnmarshalReplacesTheMessage(t *testing.T) {
	wire, _ := proto.Marshal(&matchingv1.WorkerStreamRequest{Credits: 3})
	got := &matchingv1.WorkerStreamRequest{Namespace: "stale", Seq: 4}
	if err := New().Unmarshal(mem.BufferSlice{mem.SliceBuffer(wire)}, got); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got, &matchingv1.WorkerStreamRequest{Credits: 3}) {
		t.Fatalf("got %v, want only credits 3", got)
	}
}

func TestInvalidUTF8IsRefusedBothWays(t *testing.T) {
	bad := addTasks(3)
	bad.Tasks[2].Headers["k"] = "\xff"
	_, err := New().Marshal(bad)
	if err == nil || !strings.Contains(err.Error(), "invalid UTF-8") {
		t.Fatalf("Marshal: got %v, want an invalid UTF-8 error", err)
	}
	// The same bytes from a peer that does not check: protobuf-go refuses them too.
	wire, _ := proto.MarshalOptions{}.Marshal(addTasks(3))
	wire = bytes.Replace(wire, []byte("tenant-a"), []byte("tenant\xff\xfe"), 1)
	if proto.Unmarshal(wire, &matchingv1.AddTasksRequest{}) == nil {
		t.Fatal("protobuf-go accepted invalid UTF-8; the test bytes are wrong")
	}
	err = New().Unmarshal(mem.BufferSlice{mem.SliceBuffer(wire)}, &matchingv1.AddTasksRequest{})
	if err == nil || !strings.Contains(err.Error(), "invalid UTF-8") {
		t.Fatalf("Unmarshal: got %v, want protobuf-go's invalid UTF-8 error", err)
	}
}

// TestGarbageNeverPanics decodes random, truncated and bit-flipped inputs into every
// stream message and an AddTasksRequest: each must decode or fail, like protobuf-go,
// without panicking.
func TestGarbageNeverPanics(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var valids [][]byte
	for _, m := range append(mapValues(streamMessages()), addTasks(4)) {
		b, _ := proto.Marshal(m)
		valids = append(valids, b)
	}
	valid := valids[len(valids)-1]
	targets := []func() proto.Message{
		func() proto.Message { return &matchingv1.AddTasksRequest{} },
		func() proto.Message { return &matchingv1.WorkerStreamRequest{} },
		func() proto.Message { return &matchingv1.WorkerStreamResponse{} },
	}
	inputs := [][]byte{{0}, {0xff}, {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f}}
	for i := range len(valid) {
		inputs = append(inputs, valid[:i])
	}
	for range 5000 {
		b := make([]byte, rng.IntN(64))
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		flipped := bytes.Clone(valids[rng.IntN(len(valids))])
		for range 1 + rng.IntN(3) {
			flipped[rng.IntN(len(flipped))] ^= byte(1 << rng.UintN(8))
		}
		inputs = append(inputs, b, flipped)
	}
	for _, in := range inputs {
		for _, target := range targets {
			checkAgreesWithProtobufGo(t, in, target)
		}
	}
}

// checkAgreesWithProtobufGo decodes in with the codec and protobuf-go: both must accept
// it (to equal messages) or both refuse it.
func checkAgreesWithProtobufGo(t *testing.T, in []byte, target func() proto.Message) {
	t.Helper()
	got, want := target(), target()
	err := New().Unmarshal(mem.BufferSlice{mem.SliceBuffer(bytes.Clone(in))}, got)
	wantErr := proto.Unmarshal(in, want)
	if err != nil && err.Error() != wantErr.Error() {
		t.Fatalf("%s from %x: codec error %q, protobuf-go error %q", name(got), in, err, wantErr)
	}
	switch {
	case (err == nil) != (wantErr == nil):
		t.Fatalf("%s from %x: codec error %v, protobuf-go error %v", name(got), in, err, wantErr)
	case err == nil && !proto.Equal(got, want):
		t.Fatalf("%s from %x: codec and protobuf-go decode differently", name(got), in)
	}
}

func mapValues(ms map[string]proto.Message) []proto.Message {
	var out []proto.Message
	for _, m := range ms {
		out = append(out, m)
	}
	return out
}

func name(m proto.Message) protoreflect.FullName { return m.ProtoReflect().Descriptor().FullName() }
