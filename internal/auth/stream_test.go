package auth

import (
	"context"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

// fakeStream delivers queued requests to RecvMsg.
type fakeStream struct {
	grpc.ServerStream
	ctx  context.Context
	msgs []proto.Message
}

func (s *fakeStream) Context() context.Context { return s.ctx }
func (s *fakeStream) RecvMsg(m any) error {
	proto.Merge(m.(proto.Message), s.msgs[0])
	s.msgs = s.msgs[1:]
	return nil
}

func TestStreamInterceptorAuthorizesEveryMessage(t *testing.T) {
	a := cluster.NewNamespace(t, "stream-a")
	newServiceAccount(t, a, "worker")
	token := requestToken(t, a, "worker", DefaultAudience, nil)
	g := enforcingGuard(t)
	info := &grpc.StreamServerInfo{FullMethod: matchingv1.MatchingService_WorkerStream_FullMethodName}

	ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer "+token))
	stream := &fakeStream{ctx: ctx, msgs: []proto.Message{
		&matchingv1.WorkerStreamRequest{Namespace: a, Open: &matchingv1.PollTasksRequest{Namespace: a, Queue: "q"}},
		&matchingv1.WorkerStreamRequest{Namespace: a, Credits: 1},
		// A later message naming another namespace, in its completions, is refused.
		&matchingv1.WorkerStreamRequest{Namespace: a, Seq: 1, Completions: []*matchingv1.CompleteTaskRequest{{Namespace: "someone-else", TaskId: "t"}}},
	}}
	var errs []error
	err := g.StreamServerInterceptor()(nil, stream, info, func(_ any, ss grpc.ServerStream) error {
		if _, ok := CallerFrom(ss.Context()); !ok {
			t.Error("stream handler has no caller")
		}
		for range 3 {
			errs = append(errs, ss.RecvMsg(&matchingv1.WorkerStreamRequest{}))
		}
		return nil
	})
	if err != nil || errs[0] != nil || errs[1] != nil {
		t.Fatalf("own namespace on a stream: %v %v %v", err, errs[0], errs[1])
	}
	wantCode(t, errs[2], codes.PermissionDenied, "someone-else")

	err = g.StreamServerInterceptor()(nil, &fakeStream{ctx: context.Background()}, info, func(any, grpc.ServerStream) error { return nil })
	wantCode(t, err, codes.Unauthenticated, "missing")
}
