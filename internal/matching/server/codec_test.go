package server

import (
	"testing"

	"github.com/taskroute/taskroute/internal/protocodec"
)

// TestServerDecodesWithTheProtocolCodec: the matching service's codec is protocodec (the
// generated reflection-free methods), under the recording of undecodable requests. The
// tests over real gRPC (decode_test.go, decode_scaler_test.go, fuzz_test.go) show that it
// answers as before.
func TestServerDecodesWithTheProtocolCodec(t *testing.T) {
	if _, ok := newDecodingCodec().proto.(protocodec.Codec); !ok {
		t.Fatalf("server codec is %T, want protocodec.Codec", newDecodingCodec().proto)
	}
}
