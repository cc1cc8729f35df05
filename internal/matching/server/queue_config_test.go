package server_test

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/clock"
	"github.com/taskroute/taskroute/internal/matching"
	"github.com/taskroute/taskroute/internal/matching/testserver"
	"github.com/taskroute/taskroute/internal/queueconfig"
)

func setConfig(t *testing.T, c matchingv1.MatchingServiceClient, queue string, cfg *matchingv1.QueueConfig, paths ...string) (*matchingv1.QueueConfig, error) {
	t.Helper()
	resp, err := c.SetQueueConfig(ctxT(t, 10*time.Second), &matchingv1.SetQueueConfigRequest{
		Namespace: "default", Queue: queue, Config: cfg, UpdateMask: &fieldmaskpb.FieldMask{Paths: paths},
	})
	return resp.GetConfig(), err
}

func getConfig(t *testing.T, c matchingv1.MatchingServiceClient, queue string) *matchingv1.GetQueueConfigResponse {
	t.Helper()
	resp, err := c.GetQueueConfig(ctxT(t, 10*time.Second), &matchingv1.GetQueueConfigRequest{Namespace: "default", Queue: queue})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func describe(t *testing.T, c matchingv1.MatchingServiceClient, queue string) *matchingv1.DescribeQueueResponse {
	t.Helper()
	d, err := c.DescribeQueue(ctxT(t, 5*time.Second), &matchingv1.DescribeQueueRequest{Namespace: "default", Queue: queue})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func addN(t *testing.T, c matchingv1.MatchingServiceClient, queue string, n int) {
	t.Helper()
	specs := make([]*matchingv1.TaskSpec, n)
	for i := range specs {
		specs[i] = &matchingv1.TaskSpec{Namespace: "default", Queue: queue, TaskType: "echo"}
	}
	if _, err := c.AddTasks(ctxT(t, 10*time.Second), &matchingv1.AddTasksRequest{Tasks: specs}); err != nil {
		t.Fatal(err)
	}
}

// A rate limit set through the API applies to the next dispatch: the bucket holds burst
// tokens and refills at the rate (measured on a stepped clock), DescribeQueue reports
// throttling, and lifting the limit releases the rest at once.
func TestSetQueueConfigRateLimitThrottlesDispatch(t *testing.T) {
	clk := clock.NewFake(time.Now())
	addr, _ := testserver.Start(t, testserver.Options{Engine: matching.Options{Clock: clk}})
	c := dial(t, addr)
	addN(t, c, "limited", 6)

	got, err := setConfig(t, c, "limited", &matchingv1.QueueConfig{RateLimit: 10, Burst: 2}, "rate_limit", "burst")
	if err != nil {
		t.Fatal(err)
	}
	if got.RateLimit != 10 || got.Burst != 2 || got.PriorityLevels != 5 || got.Retention.AsDuration() != 24*time.Hour {
		t.Fatalf("SetQueueConfig answered %v; want the new limit and the other fields unchanged", got)
	}
	if n := len(poll(t, c, "limited", 6, 5*time.Second)); n != 2 {
		t.Fatalf("first poll got %d tasks, want the burst of 2", n)
	}
	rl := describe(t, c, "limited").RateLimit
	if rl.GetTasksPerSecond() != 10 || rl.GetBurst() != 2 || rl.GetState() != matchingv1.RateLimitState_RATE_LIMIT_STATE_THROTTLING {
		t.Fatalf("DescribeQueue rate limit = %v, want 10/s, burst 2, throttling", rl)
	}
	clk.Advance(100 * time.Millisecond) // one token at 10/s
	if n := len(poll(t, c, "limited", 6, 5*time.Second)); n != 1 {
		t.Fatalf("poll 100ms later got %d tasks, want 1", n)
	}
	clk.Advance(time.Second) // the bucket refills to its burst, not beyond
	if n := len(poll(t, c, "limited", 6, 5*time.Second)); n != 2 {
		t.Fatalf("poll 1s later got %d tasks, want the burst of 2", n)
	}

	if _, err := setConfig(t, c, "limited", &matchingv1.QueueConfig{}, "rate_limit", "burst"); err != nil {
		t.Fatal(err)
	}
	if st := describe(t, c, "limited").RateLimit.GetState(); st != matchingv1.RateLimitState_RATE_LIMIT_STATE_UNLIMITED {
		t.Fatalf("rate limit state = %v, want unlimited", st)
	}
	if n := len(poll(t, c, "limited", 6, 5*time.Second)); n != 1 {
		t.Fatalf("poll after lifting the limit got %d tasks, want the 1 left", n)
	}
}

func fullConfig() *matchingv1.QueueConfig {
	return &matchingv1.QueueConfig{
		RateLimit: 100, Burst: 10, PriorityLevels: 8, DefaultPriority: 6,
		ScheduleToStartTimeout: durationpb.New(time.Minute),
		StartToCloseTimeout:    durationpb.New(5 * time.Minute),
		HeartbeatTimeout:       durationpb.New(30 * time.Second),
		RetryPolicy: &matchingv1.RetryPolicy{
			InitialInterval: durationpb.New(2 * time.Second), BackoffCoefficient: 1.5,
			MaximumInterval: durationpb.New(time.Minute), MaximumAttempts: 7,
			NonRetryableErrorTypes: []string{"BadInput"},
		},
		Retention:      durationpb.New(48 * time.Hour),
		PreferenceWait: durationpb.New(2 * time.Second),
	}
}

var allPaths = []string{"rate_limit", "burst", "priority_levels", "default_priority", "schedule_to_start_timeout",
	"start_to_close_timeout", "heartbeat_timeout", "retry_policy", "retention", "preference_wait"}

// A configuration set through the API is persisted: after a restart it is read back and
// applies (priority levels, rate limit) without being set again; Reset returns to the
// defaults, also across a restart.
func TestQueueConfigSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	svc := testserver.StartService(t, testserver.Options{DataDir: dir})
	c := dial(t, svc.Addr())
	want := fullConfig()
	got, err := setConfig(t, c, "kept", want, allPaths...)
	if err != nil || !proto.Equal(got, want) {
		t.Fatalf("SetQueueConfig = %v, %v; want %v", got, err, want)
	}
	svc.Stop()

	svc = testserver.StartService(t, testserver.Options{DataDir: dir})
	c = dial(t, svc.Addr())
	if r := getConfig(t, c, "kept"); !proto.Equal(r.Config, want) || r.ManagedBy != "" {
		t.Fatalf("after restart GetQueueConfig = %v, want %v and not managed", r, want)
	}
	d := describe(t, c, "kept")
	if d.PriorityLevels != 8 || d.DefaultPriority != 6 || d.RateLimit.GetTasksPerSecond() != 100 || d.RateLimit.GetBurst() != 10 {
		t.Fatalf("after restart DescribeQueue = %v", d)
	}
	if _, err := c.AddTask(ctxT(t, 5*time.Second), &matchingv1.AddTaskRequest{Task: &matchingv1.TaskSpec{
		Namespace: "default", Queue: "kept", TaskType: "echo", Priority: 8}}); err != nil {
		t.Fatalf("priority 8 of 8 levels: %v", err)
	}

	reset, err := c.ResetQueueConfig(ctxT(t, 5*time.Second), &matchingv1.ResetQueueConfigRequest{Namespace: "default", Queue: "kept"})
	if err != nil || reset.Config.PriorityLevels != 5 || reset.Config.RateLimit != 0 {
		t.Fatalf("ResetQueueConfig = %v, %v; want the defaults", reset, err)
	}
	svc.Stop()
	svc = testserver.StartService(t, testserver.Options{DataDir: dir})
	c = dial(t, svc.Addr())
	if r := getConfig(t, c, "kept"); r.Config.PriorityLevels != 5 || r.Config.RateLimit != 0 || r.Config.StartToCloseTimeout.AsDuration() != 10*time.Minute {
		t.Fatalf("after reset and restart GetQueueConfig = %v, want the defaults", r)
	}
}

// Bad values get InvalidArgument naming the field, and change nothing.
func TestSetQueueConfigRejectsBadValues(t *testing.T) {
	addr, _ := testserver.Start(t, testserver.Options{})
	c := dial(t, addr)
	d := durationpb.New
	cases := []struct {
		name  string
		cfg   *matchingv1.QueueConfig
		paths []string
		field string
	}{
		{"negative rate", &matchingv1.QueueConfig{RateLimit: -1}, []string{"rate_limit"}, "config.rate_limit"},
		{"rate without burst", &matchingv1.QueueConfig{RateLimit: 10}, []string{"rate_limit"}, "config.burst"},
		{"burst too big", &matchingv1.QueueConfig{Burst: 100001}, []string{"burst"}, "config.burst"},
		{"no levels", &matchingv1.QueueConfig{}, []string{"priority_levels"}, "config.priority_levels"},
		{"11 levels", &matchingv1.QueueConfig{PriorityLevels: 11}, []string{"priority_levels"}, "config.priority_levels"},
		{"default above levels", &matchingv1.QueueConfig{DefaultPriority: 6}, []string{"default_priority"}, "config.default_priority"},
		{"levels below the default", &matchingv1.QueueConfig{PriorityLevels: 2}, []string{"priority_levels"}, "config.default_priority"},
		{"negative timeout", &matchingv1.QueueConfig{ScheduleToStartTimeout: d(-time.Second)}, []string{"schedule_to_start_timeout"}, "config.schedule_to_start_timeout"},
		{"negative heartbeat", &matchingv1.QueueConfig{HeartbeatTimeout: d(-time.Second)}, []string{"heartbeat_timeout"}, "config.heartbeat_timeout"},
		{"negative retention", &matchingv1.QueueConfig{Retention: d(-time.Hour)}, []string{"retention"}, "config.retention"},
		{"negative preference wait", &matchingv1.QueueConfig{PreferenceWait: d(-time.Second)}, []string{"preference_wait"}, "config.preference_wait"},
		{"preference wait over a minute", &matchingv1.QueueConfig{PreferenceWait: d(61 * time.Second)}, []string{"preference_wait"}, "config.preference_wait"},
		{"maximum below initial", &matchingv1.QueueConfig{RetryPolicy: &matchingv1.RetryPolicy{MaximumInterval: d(time.Millisecond)}},
			[]string{"retry_policy.maximum_interval"}, "config.retry_policy.maximum_interval"},
		{"coefficient below 1", &matchingv1.QueueConfig{RetryPolicy: &matchingv1.RetryPolicy{BackoffCoefficient: 0.5}},
			[]string{"retry_policy.backoff_coefficient"}, "config.retry_policy.backoff_coefficient"},
		{"whole policy unset", &matchingv1.QueueConfig{}, []string{"retry_policy"}, "config.retry_policy.backoff_coefficient"},
		{"negative attempts", &matchingv1.QueueConfig{RetryPolicy: &matchingv1.RetryPolicy{MaximumAttempts: -1}},
			[]string{"retry_policy.maximum_attempts"}, "config.retry_policy.maximum_attempts"},
		{"duplicate error type", &matchingv1.QueueConfig{RetryPolicy: &matchingv1.RetryPolicy{NonRetryableErrorTypes: []string{"A", "A"}}},
			[]string{"retry_policy.non_retryable_error_types"}, "config.retry_policy.non_retryable_error_types[1]"},
		{"empty mask", &matchingv1.QueueConfig{RateLimit: 1, Burst: 1}, nil, "update_mask"},
		{"unknown path", &matchingv1.QueueConfig{}, []string{"burst", "sticky"}, "update_mask.paths[1]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := setConfig(t, c, "strict", tc.cfg, tc.paths...)
			if status.Code(err) != codes.InvalidArgument || !strings.HasPrefix(status.Convert(err).Message(), tc.field+": ") {
				t.Fatalf("got %v, want InvalidArgument naming %s", err, tc.field)
			}
		})
	}
	if r := getConfig(t, c, "strict"); !proto.Equal(r.Config, getConfig(t, c, "untouched").Config) {
		t.Fatalf("refused updates changed the configuration: %v", r.Config)
	}
	for _, r := range []*matchingv1.GetQueueConfigRequest{{Namespace: "Bad", Queue: "q"}, {Namespace: "default", Queue: "a b"}} {
		_, err := c.GetQueueConfig(ctxT(t, 5*time.Second), r)
		if status.Code(err) != codes.InvalidArgument {
			t.Fatalf("GetQueueConfig(%v) = %v, want InvalidArgument", r, err)
		}
	}
}

// A queue configured by a TaskQueue object (the reconciler's Apply) is read-only through
// the API, also after a restart, until the object is deleted (Remove): then it is back to
// the defaults and settable again.
func TestTaskQueueConfigTakesPrecedence(t *testing.T) {
	dir := t.TempDir()
	svc := testserver.StartService(t, testserver.Options{DataDir: dir})
	c := dial(t, svc.Addr())
	ctx := ctxT(t, 30*time.Second)
	key := queueconfig.Key{Namespace: "default", Name: "owned"}

	if _, err := setConfig(t, c, "owned", &matchingv1.QueueConfig{RateLimit: 3, Burst: 1}, "rate_limit", "burst"); err != nil {
		t.Fatal(err)
	}
	fromObject := queueconfig.Default()
	fromObject.RateLimit, fromObject.Burst = 5, 5
	if err := svc.Engine().Apply(ctx, key, fromObject); err != nil {
		t.Fatal(err)
	}
	wantManaged := func(c matchingv1.MatchingServiceClient) {
		t.Helper()
		if r := getConfig(t, c, "owned"); r.ManagedBy != "TaskQueue default/owned" || r.Config.RateLimit != 5 {
			t.Fatalf("GetQueueConfig = %v, want the TaskQueue's rate 5, managed by TaskQueue default/owned", r)
		}
		const msg = "queue owned is configured by TaskQueue default/owned; edit that object"
		_, err := setConfig(t, c, "owned", &matchingv1.QueueConfig{RateLimit: 1, Burst: 1}, "rate_limit", "burst")
		if status.Code(err) != codes.FailedPrecondition || status.Convert(err).Message() != msg {
			t.Fatalf("SetQueueConfig = %v, want FailedPrecondition %q", err, msg)
		}
		_, err = c.ResetQueueConfig(ctx, &matchingv1.ResetQueueConfigRequest{Namespace: "default", Queue: "owned"})
		if status.Code(err) != codes.FailedPrecondition || status.Convert(err).Message() != msg {
			t.Fatalf("ResetQueueConfig = %v, want FailedPrecondition %q", err, msg)
		}
	}
	wantManaged(c)

	svc.Stop()
	svc = testserver.StartService(t, testserver.Options{DataDir: dir})
	c = dial(t, svc.Addr())
	wantManaged(c)

	if err := svc.Engine().Remove(ctx, key); err != nil {
		t.Fatal(err)
	}
	if r := getConfig(t, c, "owned"); r.ManagedBy != "" || r.Config.RateLimit != 0 {
		t.Fatalf("after Remove GetQueueConfig = %v, want the defaults, not managed", r)
	}
	if _, err := setConfig(t, c, "owned", &matchingv1.QueueConfig{RateLimit: 1, Burst: 1}, "rate_limit", "burst"); err != nil {
		t.Fatalf("SetQueueConfig after Remove: %v", err)
	}
}
