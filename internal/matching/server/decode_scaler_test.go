package server

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	esv1 "github.com/taskroute/taskroute/api/externalscaler/v1alpha1"
)

// TestScalerUndecodableOverGRPC sends KEDA's external scaler RPCs (three unary, one server
// stream) requests protobuf cannot decode, byte for byte over a real connection: malformed
// bytes and strings that are not UTF-8 are answered InvalidArgument naming the field, as for
// the matching service, not Internal; no refused call reaches the interceptors a deployment
// adds (the auth guard), none stays recorded, and the server keeps serving.
func TestScalerUndecodableOverGRPC(t *testing.T) {
	var later atomic.Int32
	svc, err := Open(Config{Address: "127.0.0.1:0", DataDir: t.TempDir(), ServerOptions: countingInterceptors(&later)})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = svc.Start(t.Context()) }()
	t.Cleanup(svc.Stop)
	raw, err := grpc.NewClient(svc.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()

	ref := func(ns string, md map[string]string) *esv1.ScaledObjectRef {
		return &esv1.ScaledObjectRef{Name: "pool", Namespace: ns, ScalerMetadata: md}
	}
	utf8Cases := []struct {
		req  proto.Message
		want string
	}{
		{ref(marker, nil), "namespace: must be valid UTF-8"},
		{ref("default", map[string]string{"queue": marker}), "scalerMetadata[queue]: must be valid UTF-8"},
		{ref("default", map[string]string{marker: "q"}), "scalerMetadata (a key): must be valid UTF-8"},
	}
	metricsCases := []struct {
		req  proto.Message
		want string
	}{
		{&esv1.GetMetricsRequest{ScaledObjectRef: ref("default", map[string]string{"queue": marker})}, "scaledObjectRef.scalerMetadata[queue]: must be valid UTF-8"},
		{&esv1.GetMetricsRequest{ScaledObjectRef: ref("default", nil), MetricName: marker}, "metricName: must be valid UTF-8"},
	}
	junk := [][]byte{{0xff, 0xff, 0xff}, []byte("\x0a\xff\xff\xff\xff\x0f"), {0x12, 0x05, 'a'}}

	for _, method := range []string{"IsActive", "GetMetricSpec", "StreamIsActive"} {
		for _, tc := range utf8Cases {
			expectInvalid(t, method, callScaler(raw, method, withInvalidUTF8(t, tc.req)), tc.want)
		}
		for _, j := range junk {
			expectInvalid(t, method, callScaler(raw, method, j), "request: not a valid ScaledObjectRef message: ")
		}
	}
	for _, tc := range metricsCases {
		expectInvalid(t, "GetMetrics", callScaler(raw, "GetMetrics", withInvalidUTF8(t, tc.req)), tc.want)
	}
	for _, j := range junk {
		expectInvalid(t, "GetMetrics", callScaler(raw, "GetMetrics", j), "request: not a valid GetMetricsRequest message: ")
	}

	es := esv1.NewExternalScalerClient(mustDial(t, svc.Addr()))
	if _, err := es.IsActive(context.Background(), ref("default", map[string]string{"queue": "q"})); err != nil {
		t.Fatalf("a valid request after refused ones: %v", err)
	}
	if n := later.Load(); n != 1 {
		t.Errorf("%d calls reached the later interceptors, want only the valid one", n)
	}
	undecodable.Range(func(k, _ any) bool {
		t.Errorf("a refused request is still recorded: %v", k)
		return true
	})
}

// countingInterceptors count the calls, unary and streaming, that reach the interceptors
// a deployment adds after the server's own.
func countingInterceptors(n *atomic.Int32) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
			n.Add(1)
			return handler(ctx, req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
			return handler(srv, &countingStream{ServerStream: ss, n: n})
		}),
	}
}

// countingStream counts the messages a later stream interceptor (as the auth guard, which
// authorizes each one) would read.
type countingStream struct {
	grpc.ServerStream
	n *atomic.Int32
}

func (s *countingStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	s.n.Add(1)
	return nil
}

// callScaler sends body as the request of a scaler method, unary or StreamIsActive, and
// returns the call's error (for the stream: that of its first receive).
func callScaler(conn *grpc.ClientConn, method string, body []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	full := "/" + esv1.ExternalScaler_ServiceDesc.ServiceName + "/" + method
	var out []byte
	if method != "StreamIsActive" {
		return conn.Invoke(ctx, full, &body, &out)
	}
	stream, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, full)
	if err != nil {
		return err
	}
	if err := stream.SendMsg(&body); err != nil {
		return err
	}
	if err := stream.CloseSend(); err != nil {
		return err
	}
	return stream.RecvMsg(&out)
}

func expectInvalid(t *testing.T, method string, err error, wantPrefix string) {
	t.Helper()
	if status.Code(err) != codes.InvalidArgument || !strings.HasPrefix(status.Convert(err).Message(), wantPrefix) {
		t.Errorf("%s: got %v, want InvalidArgument %q", method, err, wantPrefix)
	}
}
