package server

import (
	"context"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	esv1 "github.com/taskroute/taskroute/api/externalscaler/v1alpha1"
	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/protocodec"
)

// A request that protobuf cannot decode must be answered with InvalidArgument naming the
// field. gRPC turns any error of a codec's Unmarshal into Internal before interceptors or
// handlers run, so the server's codec does not fail such a request: it records why the
// request is bad in undecodable (keyed by the request message) and succeeds with an empty
// message, and the first interceptors of the chains answer with the recorded error before
// anything reads the message: rejectUndecodable for unary calls, rejectUndecodableStream
// for each message received on a stream. All are installed together by Open, and only the
// requests of services served on this server (guardedPackages) are recorded, so every
// recorded entry is taken by one of them.
var undecodable sync.Map // proto.Message -> error

// decodingCodec is the server's codec: the matching protocol's codec (protocodec: the
// generated reflection-free methods, gRPC's proto codec for other services' messages),
// with undecodable requests handed to the rejecting interceptors instead of failing the
// call as Internal.
type decodingCodec struct{ proto encoding.CodecV2 }

func newDecodingCodec() decodingCodec {
	return decodingCodec{proto: protocodec.New()}
}

func (c decodingCodec) Name() string { return c.proto.Name() }

func (c decodingCodec) Marshal(v any) (mem.BufferSlice, error) { return c.proto.Marshal(v) }

func (c decodingCodec) Unmarshal(data mem.BufferSlice, v any) error {
	err := c.proto.Unmarshal(data, v)
	if err == nil {
		return nil
	}
	m, ok := v.(proto.Message)
	if !ok || !isGuardedRequest(m) {
		return err
	}
	proto.Reset(m)
	undecodable.Store(m, decodingError(data.Materialize(), m, err))
	return nil
}

// guardedPackages are the protobuf packages of the services served on the matching
// server: the matching service and KEDA's external scaler (kedascaler).
var guardedPackages = map[protoreflect.FullName]bool{
	matchingv1.File_matching_proto.Package(): true,
	esv1.File_externalscaler_proto.Package(): true,
}

// isGuardedRequest is true for the messages of the services served on this server, whose
// calls all pass the rejecting interceptors.
func isGuardedRequest(m proto.Message) bool {
	return guardedPackages[m.ProtoReflect().Descriptor().ParentFile().Package()]
}

// decodingError names the first string field of b that is not valid UTF-8 or, when the
// bytes are malformed otherwise, says that the request could not be parsed.
func decodingError(b []byte, m proto.Message, err error) error {
	md := m.ProtoReflect().Descriptor()
	if field := invalidUTF8Path(b, md); field != "" {
		return invalid(field, "must be valid UTF-8")
	}
	return status.Errorf(codes.InvalidArgument, "request: not a valid %s message: %v", md.Name(), err)
}

// rejectUndecodable answers a request the codec could not decode with the recorded error.
func rejectUndecodable(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err, found := undecodable.LoadAndDelete(req); found {
		return nil, err.(error)
	}
	return handler(ctx, req)
}

// decodingOptions install the codec and its interceptors; they go before any other
// interceptor so that nothing reads an undecodable request.
func decodingOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ForceServerCodecV2(newDecodingCodec()),
		grpc.ChainUnaryInterceptor(rejectUndecodable),
		grpc.ChainStreamInterceptor(rejectUndecodableStream),
	}
}
