package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/go-logr/logr"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

// echoServer answers every RPC with an empty response; PollTasks and DescribeQueue
// report the caller the interceptor put into the context.
type echoServer struct {
	matchingv1.UnimplementedMatchingServiceServer
}

func (echoServer) AddTask(context.Context, *matchingv1.AddTaskRequest) (*matchingv1.AddTaskResponse, error) {
	return &matchingv1.AddTaskResponse{Created: true}, nil
}
func (echoServer) AddTasks(context.Context, *matchingv1.AddTasksRequest) (*matchingv1.AddTasksResponse, error) {
	return &matchingv1.AddTasksResponse{}, nil
}
func (echoServer) PollTasks(ctx context.Context, r *matchingv1.PollTasksRequest) (*matchingv1.PollTasksResponse, error) {
	c, ok := CallerFrom(ctx)
	if !ok {
		return &matchingv1.PollTasksResponse{}, nil
	}
	return &matchingv1.PollTasksResponse{Tasks: []*matchingv1.Task{{Namespace: r.Namespace, TaskId: c.Username, LeaseId: c.PodName}}}, nil
}
func (echoServer) CompleteTask(context.Context, *matchingv1.CompleteTaskRequest) (*matchingv1.CompleteTaskResponse, error) {
	return &matchingv1.CompleteTaskResponse{}, nil
}
func (echoServer) CompleteTasks(context.Context, *matchingv1.CompleteTasksRequest) (*matchingv1.CompleteTasksResponse, error) {
	return &matchingv1.CompleteTasksResponse{}, nil
}
func (echoServer) FailTask(context.Context, *matchingv1.FailTaskRequest) (*matchingv1.FailTaskResponse, error) {
	return &matchingv1.FailTaskResponse{}, nil
}
func (echoServer) HeartbeatTask(context.Context, *matchingv1.HeartbeatTaskRequest) (*matchingv1.HeartbeatTaskResponse, error) {
	return &matchingv1.HeartbeatTaskResponse{}, nil
}
func (echoServer) ReportTaskCanceled(context.Context, *matchingv1.ReportTaskCanceledRequest) (*matchingv1.ReportTaskCanceledResponse, error) {
	return &matchingv1.ReportTaskCanceledResponse{}, nil
}
func (echoServer) ReleaseTask(context.Context, *matchingv1.ReleaseTaskRequest) (*matchingv1.ReleaseTaskResponse, error) {
	return &matchingv1.ReleaseTaskResponse{}, nil
}
func (echoServer) ShutdownWorker(context.Context, *matchingv1.ShutdownWorkerRequest) (*matchingv1.ShutdownWorkerResponse, error) {
	return &matchingv1.ShutdownWorkerResponse{}, nil
}
func (echoServer) WorkerStream(ss matchingv1.MatchingService_WorkerStreamServer) error {
	for {
		if _, err := ss.Recv(); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}
func (echoServer) RecordWorkerHeartbeat(context.Context, *matchingv1.RecordWorkerHeartbeatRequest) (*matchingv1.RecordWorkerHeartbeatResponse, error) {
	return &matchingv1.RecordWorkerHeartbeatResponse{}, nil
}
func (echoServer) CancelTask(context.Context, *matchingv1.CancelTaskRequest) (*matchingv1.CancelTaskResponse, error) {
	return &matchingv1.CancelTaskResponse{}, nil
}
func (echoServer) GetTask(context.Context, *matchingv1.GetTaskRequest) (*matchingv1.GetTaskResponse, error) {
	return &matchingv1.GetTaskResponse{}, nil
}
func (echoServer) DescribeQueue(context.Context, *matchingv1.DescribeQueueRequest) (*matchingv1.DescribeQueueResponse, error) {
	return &matchingv1.DescribeQueueResponse{}, nil
}
func (echoServer) ListQueues(context.Context, *matchingv1.ListQueuesRequest) (*matchingv1.ListQueuesResponse, error) {
	return &matchingv1.ListQueuesResponse{}, nil
}
func (echoServer) GetQueueConfig(context.Context, *matchingv1.GetQueueConfigRequest) (*matchingv1.GetQueueConfigResponse, error) {
	return &matchingv1.GetQueueConfigResponse{}, nil
}
func (echoServer) SetQueueConfig(context.Context, *matchingv1.SetQueueConfigRequest) (*matchingv1.SetQueueConfigResponse, error) {
	return &matchingv1.SetQueueConfigResponse{}, nil
}
func (echoServer) ResetQueueConfig(context.Context, *matchingv1.ResetQueueConfigRequest) (*matchingv1.ResetQueueConfigResponse, error) {
	return &matchingv1.ResetQueueConfigResponse{}, nil
}
func (echoServer) ListTasks(context.Context, *matchingv1.ListTasksRequest) (*matchingv1.ListTasksResponse, error) {
	return &matchingv1.ListTasksResponse{}, nil
}
func (echoServer) CreateSession(context.Context, *matchingv1.CreateSessionRequest) (*matchingv1.CreateSessionResponse, error) {
	return &matchingv1.CreateSessionResponse{}, nil
}
func (echoServer) CompleteSession(context.Context, *matchingv1.CompleteSessionRequest) (*matchingv1.CompleteSessionResponse, error) {
	return &matchingv1.CompleteSessionResponse{}, nil
}
func (echoServer) GetSession(context.Context, *matchingv1.GetSessionRequest) (*matchingv1.GetSessionResponse, error) {
	return &matchingv1.GetSessionResponse{}, nil
}

// serveGuarded starts a real gRPC server on loopback with g's interceptors.
func serveGuarded(t *testing.T, g *Guard) matchingv1.MatchingServiceClient {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(g.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(g.StreamServerInterceptor()),
	)
	matchingv1.RegisterMatchingServiceServer(srv, echoServer{})
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return matchingv1.NewMatchingServiceClient(conn)
}

func enforcingGuard(t *testing.T) *Guard {
	t.Helper()
	g, err := NewGuard(Enforce,
		NewAuthenticator(kube.AuthenticationV1().TokenReviews(), AuthenticatorOptions{}),
		NewAuthorizer(kube.AuthorizationV1().SubjectAccessReviews(), AuthorizerOptions{}), logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func withToken(token string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+token)
}

// rpc is one call of the generated API against namespace ns and queue q.
type rpc struct {
	name string
	call func(ctx context.Context, c matchingv1.MatchingServiceClient, ns, q string) error
}

// everyRPC calls each method of MatchingService once.
var everyRPC = []rpc{
	{"AddTask", func(ctx context.Context, c matchingv1.MatchingServiceClient, ns, q string) error {
		_, err := c.AddTask(ctx, &matchingv1.AddTaskRequest{Task: &matchingv1.TaskSpec{Namespace: ns, Queue: q}})
		return err
	}},
	{"AddTasks", func(ctx context.Context, c matchingv1.MatchingServiceClient, ns, q string) error {
		_, err := c.AddTasks(ctx, &matchingv1.AddTasksRequest{Tasks: []*matchingv1.TaskSpec{{Namespace: ns, Queue: q}}})
		return err
	}},
	{"PollTasks", func(ctx context.Context, c matchingv1.MatchingServiceClient, ns, q string) error {
		_, err := c.PollTasks(ctx, &matchingv1.PollTasksRequest{Namespace: ns, Queue: q, MaxTasks: 1})
		return err
	}},
	{"CompleteTask", func(ctx context.Context, c matchingv1.MatchingServiceClient, ns, q string) error {
		_, err := c.CompleteTask(ctx, &matchingv1.CompleteTaskRequest{Namespace: ns, TaskId: "t"})
		return err
	}},
	{"CompleteTasks", func(ctx context.Context, c matchingv1.MatchingServiceClient, ns, q string) error {
		_, err := c.CompleteTasks(ctx, &matchingv1.CompleteTasksRequest{Completions: []*matchingv1.CompleteTaskRequest{{Namespace: ns, TaskId: "t"}}})
		return err
	}},
	{"FailTask", func(ctx context.Context, c matchingv1.MatchingServiceClient, ns, q string) error {
		_, err := c.FailTask(ctx, &matchingv1.FailTaskRequest{Namespace: ns, TaskId: "t"})
		return err
	}},
	{"HeartbeatTask", func(ctx context.Context, c matchingv1.MatchingServiceClient, ns, q string) error {
		_, err := c.HeartbeatTask(ctx, &matchingv1.HeartbeatTaskRequest{Namespace: ns, TaskId: "t"})
		return err
	}},
	{"ReportTaskCanceled", func(ctx context.Context, c matchingv1.MatchingServiceClient, ns, q string) error {
		_, err := c.ReportTaskCanceled(ctx, &matchingv1.ReportTaskCanceledRequest{Namespace: ns, TaskId: "t"})
		return err
	}},
	{"ReleaseTask", func(ctx context.Context, c matchingv1.MatchingServiceClient, ns, q string) error {
		_, err := c.ReleaseTask(ctx, &matchingv1.ReleaseTaskRequest{Namespace: ns, TaskId: "t"})
		return err
	}},
	{"ShutdownWorker", func(ctx context.Context, c matchingv1.MatchingServiceClient, ns, q string) error {
		_, err := c.ShutdownWorker(ctx, &matchingv1.ShutdownWorkerRequest{Namespace: ns, Queue: q, WorkerIdentity: "w"})
		return err
	}},
	{"WorkerStream", func(ctx context.Context, c matchingv1.MatchingServiceClient, ns, q string) error {
		s, err := c.WorkerStream(ctx)
		if err != nil {
			return err
		}
		// A refused stream ends with its status, which Recv returns (Send may see only EOF).
		_ = s.Send(&matchingv1.WorkerStreamRequest{Namespace: ns, Open: &matchingv1.PollTasksRequest{Namespace: ns, Queue: q, MaxTasks: 1}})
		_ = s.CloseSend()
		if _, err = s.Recv(); errors.Is(err, io.EOF) {
			return nil
		}
		return err
	}},
	{"RecordWorkerHeartbeat", func(ctx context.Context, c matchingv1.MatchingServiceClient, ns, q string) error {
		_, err := c.RecordWorkerHeartbeat(ctx, &matchingv1.RecordWorkerHeartbeatRequest{Namespace: ns, Queue: q, WorkerIdentity: "w"})
		return err
	}},
	{"CancelTask", func(ctx context.Context, c matchingv1.MatchingServiceClient, ns, q string) error {
		_, err := c.CancelTask(ctx, &matchingv1.CancelTaskRequest{Namespace: ns, TaskId: "t"})
		return err
	}},
	{"GetTask", func(ctx context.Context, c matchingv1.MatchingServiceClient, ns, q string) error {
		_, err := c.GetTask(ctx, &matchingv1.GetTaskRequest{Namespace: ns, TaskId: "t"})
		return err
	}},
	{"DescribeQueue", func(ctx context.Context, c matchingv1.MatchingServiceClient, ns, q string) error {
		_, err := c.DescribeQueue(ctx, &matchingv1.DescribeQueueRequest{Namespace: ns, Queue: q})
		return err
	}},
	{"ListQueues", func(ctx context.Context, c matchingv1.MatchingServiceClient, ns, q string) error {
		_, err := c.ListQueues(ctx, &matchingv1.ListQueuesRequest{Namespace: ns})
		return err
	}},
	{"GetQueueConfig", func(ctx context.Context, c matchingv1.MatchingServiceClient, ns, q string) error {
		_, err := c.GetQueueConfig(ctx, &matchingv1.GetQueueConfigRequest{Namespace: ns, Queue: q})
		return err
	}},
	{"SetQueueConfig", func(ctx context.Context, c matchingv1.MatchingServiceClient, ns, q string) error {
		_, err := c.SetQueueConfig(ctx, &matchingv1.SetQueueConfigRequest{Namespace: ns, Queue: q, Config: &matchingv1.QueueConfig{}})
		return err
	}},
	{"ResetQueueConfig", func(ctx context.Context, c matchingv1.MatchingServiceClient, ns, q string) error {
		_, err := c.ResetQueueConfig(ctx, &matchingv1.ResetQueueConfigRequest{Namespace: ns, Queue: q})
		return err
	}},
	{"ListTasks", func(ctx context.Context, c matchingv1.MatchingServiceClient, ns, q string) error {
		_, err := c.ListTasks(ctx, &matchingv1.ListTasksRequest{Namespace: ns, Queue: q})
		return err
	}},
	{"CreateSession", func(ctx context.Context, c matchingv1.MatchingServiceClient, ns, q string) error {
		_, err := c.CreateSession(ctx, &matchingv1.CreateSessionRequest{Namespace: ns, Queue: q})
		return err
	}},
	{"CompleteSession", func(ctx context.Context, c matchingv1.MatchingServiceClient, ns, q string) error {
		_, err := c.CompleteSession(ctx, &matchingv1.CompleteSessionRequest{Namespace: ns, SessionId: "s"})
		return err
	}},
	{"GetSession", func(ctx context.Context, c matchingv1.MatchingServiceClient, ns, q string) error {
		_, err := c.GetSession(ctx, &matchingv1.GetSessionRequest{Namespace: ns, SessionId: "s"})
		return err
	}},
}

func TestEveryRPCHasAVerbAndATestCase(t *testing.T) {
	var methods []string
	for _, m := range matchingv1.MatchingService_ServiceDesc.Methods {
		methods = append(methods, m.MethodName)
	}
	for _, s := range matchingv1.MatchingService_ServiceDesc.Streams {
		methods = append(methods, s.StreamName)
	}
	if len(methods) != len(everyRPC) || len(methods) != len(methodVerbs)-len(everyScalerRPC) {
		t.Fatalf("MatchingService has %d methods, the test covers %d and the verb table %d", len(methods), len(everyRPC), len(methodVerbs))
	}
	for _, m := range methods {
		if _, ok := methodVerbs["/"+matchingv1.MatchingService_ServiceDesc.ServiceName+"/"+m]; !ok {
			t.Errorf("%s has no verb", m)
		}
	}
}

func TestGuardIsolatesNamespacesForEveryRPC(t *testing.T) {
	a, b := cluster.NewNamespace(t, "guard-a"), cluster.NewNamespace(t, "guard-b")
	newServiceAccount(t, a, "worker")
	newServiceAccount(t, b, "worker")
	tokenA := requestToken(t, a, "worker", DefaultAudience, newPod(t, a, "worker-0", "worker"))
	client := serveGuarded(t, enforcingGuard(t))

	for _, r := range everyRPC {
		t.Run(r.name, func(t *testing.T) {
			if err := r.call(withToken(tokenA), client, a, "q"); err != nil {
				t.Fatalf("own namespace: %v", err)
			}
			err := r.call(withToken(tokenA), client, b, "q")
			wantCode(t, err, codes.PermissionDenied, fmt.Sprintf("namespace %q", b))
			wantCode(t, r.call(context.Background(), client, a, "q"), codes.Unauthenticated, "missing")
		})
	}

	// The handler sees the caller, pod included.
	res, err := client.PollTasks(withToken(tokenA), &matchingv1.PollTasksRequest{Namespace: a, Queue: "q"})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Tasks[0]; got.TaskId != "system:serviceaccount:"+a+":worker" || got.LeaseId != "worker-0" {
		t.Fatalf("handler saw caller %q pod %q", got.TaskId, got.LeaseId)
	}

	// A batch is refused when any item names a foreign namespace.
	_, err = client.AddTasks(withToken(tokenA), &matchingv1.AddTasksRequest{Tasks: []*matchingv1.TaskSpec{
		{Namespace: a, Queue: "q"}, {Namespace: b, Queue: "q"},
	}})
	wantCode(t, err, codes.PermissionDenied, b)
	_, err = client.CompleteTasks(withToken(tokenA), &matchingv1.CompleteTasksRequest{Completions: []*matchingv1.CompleteTaskRequest{
		{Namespace: a}, {Namespace: b},
	}})
	wantCode(t, err, codes.PermissionDenied, b)
	_, err = client.AddTasks(withToken(tokenA), &matchingv1.AddTasksRequest{})
	wantCode(t, err, codes.InvalidArgument, "no namespace")
}

func TestGuardRejectsBadTokens(t *testing.T) {
	a := cluster.NewNamespace(t, "guard-a")
	newServiceAccount(t, a, "worker")
	client := serveGuarded(t, enforcingGuard(t))
	poll := func(ctx context.Context) error {
		_, err := client.PollTasks(ctx, &matchingv1.PollTasksRequest{Namespace: a, Queue: "q"})
		return err
	}
	wantCode(t, poll(withToken(forgeToken(t, a, "worker", DefaultAudience))), codes.Unauthenticated, "")
	wantCode(t, poll(withToken(requestToken(t, a, "worker", "https://kubernetes.default.svc", nil))), codes.Unauthenticated, "")
	wantCode(t, poll(metadata.AppendToOutgoingContext(context.Background(), "authorization", "Basic dXNlcjpwdw==")), codes.Unauthenticated, "missing")
	if err := poll(withToken(requestToken(t, a, "worker", DefaultAudience, nil))); err != nil {
		t.Fatal(err)
	}
}

func TestGuardCrossNamespaceGrant(t *testing.T) {
	a, b := cluster.NewNamespace(t, "guard-a"), cluster.NewNamespace(t, "guard-b")
	newServiceAccount(t, a, "producer")
	token := requestToken(t, a, "producer", DefaultAudience, nil)
	grantQueues(t, b, []string{VerbAdd}, []string{"shared"}, serviceAccountSubject(a, "producer"))

	eventually(t, func() error {
		client := serveGuarded(t, enforcingGuard(t)) // fresh caches
		_, err := client.AddTask(withToken(token), &matchingv1.AddTaskRequest{Task: &matchingv1.TaskSpec{Namespace: b, Queue: "shared"}})
		return err
	})
	client := serveGuarded(t, enforcingGuard(t))
	_, err := client.AddTask(withToken(token), &matchingv1.AddTaskRequest{Task: &matchingv1.TaskSpec{Namespace: b, Queue: "private"}})
	wantCode(t, err, codes.PermissionDenied, "private")
	_, err = client.PollTasks(withToken(token), &matchingv1.PollTasksRequest{Namespace: b, Queue: "shared"})
	wantCode(t, err, codes.PermissionDenied, "poll")
}

func TestGuardDisabledLetsCallsThrough(t *testing.T) {
	g, err := NewGuard(Disabled, nil, nil, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	client := serveGuarded(t, g)
	for _, r := range everyRPC {
		if err := r.call(context.Background(), client, "anyone", "q"); err != nil {
			t.Fatalf("%s with auth disabled: %v", r.name, err)
		}
	}
	if _, err := NewGuard(Enforce, nil, nil, logr.Discard()); err == nil {
		t.Fatal("enforce mode without an authenticator was accepted")
	}
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]Mode{"": Enforce, "enforce": Enforce, "disabled": Disabled} {
		if got, err := ParseMode(in); err != nil || got != want {
			t.Fatalf("ParseMode(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseMode("off"); err == nil {
		t.Fatal("ParseMode accepted an unknown mode")
	}
}
