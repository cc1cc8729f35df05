package protocodec

import (
	"testing"

	"google.golang.org/grpc/encoding"
	encproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/protobuf/proto"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

// BenchmarkRoundTrip encodes and decodes, as a gRPC call does on its two ends, a
// 1,000-task AddTasksRequest and a WorkerStreamResponse pushing 64 tasks, with gRPC's
// proto codec (protobuf-go) and with this codec.
func BenchmarkRoundTrip(b *testing.B) {
	messages := []struct {
		name string
		msg  proto.Message
		new  func() proto.Message
	}{
		{"AddTasks1000", addTasks(1000), func() proto.Message { return &matchingv1.AddTasksRequest{} }},
		{"StreamPush64", started(64), func() proto.Message { return &matchingv1.WorkerStreamResponse{} }},
	}
	codecs := []struct {
		name  string
		codec encoding.CodecV2
	}{
		{"protobuf-go", encoding.GetCodecV2(encproto.Name)},
		{"vtproto", New()},
	}
	for _, m := range messages {
		for _, c := range codecs {
			b.Run(m.name+"/"+c.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					roundTripOnce(b, c.codec, m.msg, m.new())
				}
			})
		}
	}
}

func roundTripOnce(b *testing.B, c encoding.CodecV2, in, out proto.Message) {
	data, err := c.Marshal(in)
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Unmarshal(data, out); err != nil {
		b.Fatal(err)
	}
	data.Free()
}
