package matching

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestInlineTimeFieldsMatchProtoHelpers(t *testing.T) {
	for _, ns := range []int64{1, 999_999_999, 1_700_000_000_123_456_789, -1, -1_500_000_000} {
		var got timestamppb.Timestamp
		if want := timestamppb.New(time.Unix(0, ns)); !proto.Equal(setTS(&got, ns), want) {
			t.Errorf("setTS(%d) = %v, want %v", ns, &got, want)
		}
	}
	for _, d := range []time.Duration{time.Nanosecond, 1500 * time.Millisecond, 36 * time.Hour} {
		var got durationpb.Duration
		if want := durationpb.New(d); !proto.Equal(setDuration(&got, d), want) {
			t.Errorf("setDuration(%v) = %v, want %v", d, &got, want)
		}
	}
}
