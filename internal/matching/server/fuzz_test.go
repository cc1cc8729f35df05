package server

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/queueconfig"
)

func fiveLevels(string, string) int { return queueconfig.Default().PriorityLevels }

// FuzzValidation feeds arbitrary bytes, decoded as each request type, to the validators:
// they must never panic, and anything they accept must be within the limits.
func FuzzValidation(f *testing.F) {
	seeds := []proto.Message{
		&matchingv1.AddTaskRequest{Task: &matchingv1.TaskSpec{Namespace: "default", Queue: "q", TaskType: "t", Payload: []byte("x"), Priority: 3}},
		&matchingv1.AddTaskRequest{Task: &matchingv1.TaskSpec{Namespace: "default", Queue: "q\x00", TaskType: "t", Headers: map[string]string{"a": "b"}}},
		&matchingv1.PollTasksRequest{Namespace: "default", Queue: "q", WorkerIdentity: "w", MaxTasks: 10, Priorities: []int32{1, 5}, TasksPerSecond: 3},
		&matchingv1.CompleteTaskRequest{Namespace: "default", TaskId: "id", LeaseId: "abc"},
		&matchingv1.FailTaskRequest{Namespace: "default", TaskId: "id", LeaseId: "abc", Failure: &matchingv1.Failure{ErrorType: "E"}},
		&matchingv1.SetQueueConfigRequest{Namespace: "default", Queue: "q", Config: &matchingv1.QueueConfig{RateLimit: 5, Burst: 2, PriorityLevels: 3},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"rate_limit", "burst", "priority_levels", "retry_policy"}}},
	}
	for _, m := range seeds {
		b, _ := proto.Marshal(m)
		f.Add(b)
	}
	f.Add([]byte{0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte("garbage"))
	l := DefaultLimits()
	f.Fuzz(func(t *testing.T, data []byte) {
		var add matchingv1.AddTaskRequest
		if err := proto.Unmarshal(data, &add); err != nil {
			if code := status.Code(decodingError(data, &add, err)); code != codes.InvalidArgument {
				t.Fatalf("undecodable request answered %v", code)
			}
		} else {
			if err := l.checkTask(taskField, 0, add.Task, fiveLevels); err == nil {
				tk := add.Task
				if len(tk.Payload) > l.MaxPayloadBytes || len(tk.Queue) == 0 || len(tk.Queue) > 253 || tk.Priority < 0 || tk.Priority > 5 {
					t.Fatalf("accepted invalid task %v", tk)
				}
				for _, c := range []byte(tk.Namespace + tk.Queue + tk.TaskId) {
					if c == 0 {
						t.Fatalf("accepted a zero byte in a name: %v", tk)
					}
				}
			} else if status.Code(err) != codes.InvalidArgument {
				t.Fatalf("code %v", status.Code(err))
			}
		}
		var poll matchingv1.PollTasksRequest
		if proto.Unmarshal(data, &poll) == nil {
			if err := l.checkPoll(&poll, fiveLevels); err == nil && (poll.MaxTasks < 1 || poll.MaxTasks > 1000) {
				t.Fatalf("accepted max_tasks %d", poll.MaxTasks)
			}
		}
		var set matchingv1.SetQueueConfigRequest
		if proto.Unmarshal(data, &set) == nil {
			checkAcceptedQueueConfig(t, &set)
		}
		var fail matchingv1.FailTaskRequest
		if proto.Unmarshal(data, &fail) == nil {
			_ = l.checkAttempt(fail.Namespace, fail.TaskId, fail.LeaseId, fail.WorkerIdentity)
			_ = l.checkFailure(fail.Failure)
		}
	})
}

// checkAcceptedQueueConfig applies a SetQueueConfig request to the defaults as the handler
// does: an accepted result must be within the bounds the engine relies on.
func checkAcceptedQueueConfig(t *testing.T, r *matchingv1.SetQueueConfigRequest) {
	setters, err := maskedSetters(r.GetUpdateMask().GetPaths())
	cfg := queueconfig.Default()
	for _, set := range setters {
		if err == nil {
			err = set(&cfg, r.GetConfig())
		}
	}
	if err == nil {
		err = checkQueueConfig(&cfg)
	}
	if err != nil {
		if status.Code(err) != codes.InvalidArgument {
			t.Fatalf("code %v", status.Code(err))
		}
		return
	}
	if cfg.PriorityLevels < 1 || cfg.PriorityLevels > 10 || cfg.DefaultPriority < 1 || cfg.DefaultPriority > cfg.PriorityLevels ||
		cfg.RateLimit < 0 || (cfg.RateLimit > 0 && cfg.Burst < 1) || cfg.Retry.BackoffCoefficient < 1 ||
		cfg.ScheduleToStartTimeout < 0 || cfg.StartToCloseTimeout < 0 || cfg.HeartbeatTimeout < 0 || cfg.Retention < 0 ||
		cfg.Retry.InitialInterval < 0 || cfg.Retry.MaximumInterval < cfg.Retry.InitialInterval {
		t.Fatalf("accepted invalid queue config %+v", cfg)
	}
}

// rawCodec sends bytes as they are, to put junk on the wire.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

var _ encoding.Codec = rawCodec{}

// TestGarbageBytesOverGRPC sends junk as every method's request over a real connection:
// the server answers InvalidArgument and keeps serving.
func TestGarbageBytesOverGRPC(t *testing.T) {
	svc, err := Open(Config{Address: "127.0.0.1:0", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = svc.Start(t.Context()) }()
	t.Cleanup(svc.Stop)
	conn, err := grpc.NewClient(svc.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	junk := [][]byte{{0xff, 0xff, 0xff}, []byte("\x0a\xff\xff\xff\xff\x0f"), []byte("hello world"), {0x12, 0x05, 'a'}}
	for _, m := range matchingv1.MatchingService_ServiceDesc.Methods {
		for _, j := range junk {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			var out []byte
			err := conn.Invoke(ctx, "/"+matchingv1.MatchingService_ServiceDesc.ServiceName+"/"+m.MethodName, &j, &out)
			cancel()
			if code := status.Code(err); code != codes.InvalidArgument {
				t.Errorf("%s with junk %q: %v", m.MethodName, j, err)
			}
		}
	}
	// Still serving properly.
	c := matchingv1.NewMatchingServiceClient(mustDial(t, svc.Addr()))
	if _, err := c.DescribeQueue(context.Background(), &matchingv1.DescribeQueueRequest{Namespace: "default", Queue: "q"}); err != nil {
		t.Fatalf("server broken after junk: %v", err)
	}
}

func mustDial(t *testing.T, addr string) *grpc.ClientConn {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}
