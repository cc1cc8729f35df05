package client

import (
	"context"
	"encoding/json"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

// QueueConfig is the configuration in effect for a queue: the defaults until something
// configures it. In JSON, durations are Go duration strings ("1m30s").
type QueueConfig struct {
	// RateLimit is the global dispatch rate in tasks/second across all workers; 0 means
	// unlimited. Burst is the token bucket's size.
	RateLimit float64
	Burst     int
	// PriorityLevels are numbered 1 (lowest) .. PriorityLevels; DefaultPriority is the
	// level of tasks that name none.
	PriorityLevels  int
	DefaultPriority int
	// Defaults of tasks that set none; 0 means no limit.
	ScheduleToStartTimeout time.Duration
	StartToCloseTimeout    time.Duration
	HeartbeatTimeout       time.Duration
	// Retry is the default retry policy; here every field is the value in effect
	// (MaximumAttempts 0 means unlimited).
	Retry RetryPolicy
	// Retention is how long a finished task's outcome is kept.
	Retention time.Duration
	// PreferenceWait is how long a task with preferences (Task.Prefers) waits for a
	// worker that meets one before any capable worker may take it; 0..1m, default 500ms.
	PreferenceWait time.Duration
	// FairnessKeyRateLimit is each fairness key's dispatch rate in tasks/second (0:
	// unlimited), FairnessKeyBurst its bucket size; a key over its rate waits while other
	// keys' tasks flow. FairnessWeightOverrides are weights (1..1000) by key that win over
	// the weights tasks carry.
	FairnessKeyRateLimit    float64
	FairnessKeyBurst        int
	FairnessWeightOverrides map[string]int
	// ManagedBy is "TaskQueue <namespace>/<name>" when a TaskQueue object configures the
	// queue; then only that object can change it (SetQueueConfig and ResetQueueConfig get
	// FailedPrecondition). Empty otherwise.
	ManagedBy string
}

// QueueConfigUpdate names the fields SetQueueConfig changes: each non-nil field is set to
// what it points to; nil fields keep their values. With Go 1.26: RateLimit: new(100.0).
type QueueConfigUpdate struct {
	RateLimit                   *float64
	Burst                       *int
	PriorityLevels              *int
	DefaultPriority             *int
	ScheduleToStartTimeout      *time.Duration
	StartToCloseTimeout         *time.Duration
	HeartbeatTimeout            *time.Duration
	RetryInitialInterval        *time.Duration
	RetryBackoffCoefficient     *float64
	RetryMaximumInterval        *time.Duration
	RetryMaximumAttempts        *int
	RetryNonRetryableErrorTypes *[]string // a pointer to an empty slice clears the list
	Retention                   *time.Duration
	PreferenceWait              *time.Duration
	FairnessKeyRateLimit        *float64
	FairnessKeyBurst            *int
	FairnessWeightOverrides     *map[string]int // a pointer to an empty map clears the overrides
}

// GetQueueConfig returns the configuration in effect for a queue and, in ManagedBy, the
// TaskQueue object that sets it, if any.
func (c *Client) GetQueueConfig(ctx context.Context, queue string) (*QueueConfig, error) {
	if queue == "" {
		return nil, invalid("queue", "must not be empty")
	}
	ctx, cancel := c.callContext(ctx)
	defer cancel()
	resp, err := c.rpc.GetQueueConfig(ctx, &matchingv1.GetQueueConfigRequest{Namespace: c.namespace, Queue: queue})
	if err != nil {
		return nil, err
	}
	cfg := queueConfigFromProto(resp.GetConfig())
	cfg.ManagedBy = resp.GetManagedBy()
	return cfg, nil
}

// SetQueueConfig changes the fields u names and returns the configuration now in effect.
// The service validates the result as a whole (InvalidArgument naming the field, e.g.
// "config.burst: must be at least 1 when rate_limit is set"); a queue configured by a
// TaskQueue object gets FailedPrecondition naming it.
func (c *Client) SetQueueConfig(ctx context.Context, queue string, u QueueConfigUpdate) (*QueueConfig, error) {
	if queue == "" {
		return nil, invalid("queue", "must not be empty")
	}
	cfg, paths := u.toProto()
	if len(paths) == 0 {
		return nil, invalid("update", "names no field to change")
	}
	ctx, cancel := c.callContext(ctx)
	defer cancel()
	resp, err := c.rpc.SetQueueConfig(ctx, &matchingv1.SetQueueConfigRequest{
		Namespace: c.namespace, Queue: queue, Config: cfg, UpdateMask: &fieldmaskpb.FieldMask{Paths: paths},
	})
	if err != nil {
		return nil, err
	}
	return queueConfigFromProto(resp.GetConfig()), nil
}

// ResetQueueConfig returns a queue to the default configuration and returns it; a queue
// configured by a TaskQueue object gets FailedPrecondition naming it.
func (c *Client) ResetQueueConfig(ctx context.Context, queue string) (*QueueConfig, error) {
	if queue == "" {
		return nil, invalid("queue", "must not be empty")
	}
	ctx, cancel := c.callContext(ctx)
	defer cancel()
	resp, err := c.rpc.ResetQueueConfig(ctx, &matchingv1.ResetQueueConfigRequest{Namespace: c.namespace, Queue: queue})
	if err != nil {
		return nil, err
	}
	return queueConfigFromProto(resp.GetConfig()), nil
}

// toProto returns the request's config and update_mask paths, in QueueConfig field order.
func (u *QueueConfigUpdate) toProto() (*matchingv1.QueueConfig, []string) {
	cfg := &matchingv1.QueueConfig{RetryPolicy: &matchingv1.RetryPolicy{}}
	var paths []string
	set := func(present bool, path string, assign func()) {
		if present {
			assign()
			paths = append(paths, path)
		}
	}
	rp := cfg.RetryPolicy
	set(u.RateLimit != nil, "rate_limit", func() { cfg.RateLimit = *u.RateLimit })
	set(u.Burst != nil, "burst", func() { cfg.Burst = int32(*u.Burst) })
	set(u.PriorityLevels != nil, "priority_levels", func() { cfg.PriorityLevels = int32(*u.PriorityLevels) })
	set(u.DefaultPriority != nil, "default_priority", func() { cfg.DefaultPriority = int32(*u.DefaultPriority) })
	set(u.ScheduleToStartTimeout != nil, "schedule_to_start_timeout", func() { cfg.ScheduleToStartTimeout = durationpb.New(*u.ScheduleToStartTimeout) })
	set(u.StartToCloseTimeout != nil, "start_to_close_timeout", func() { cfg.StartToCloseTimeout = durationpb.New(*u.StartToCloseTimeout) })
	set(u.HeartbeatTimeout != nil, "heartbeat_timeout", func() { cfg.HeartbeatTimeout = durationpb.New(*u.HeartbeatTimeout) })
	set(u.RetryInitialInterval != nil, "retry_policy.initial_interval", func() { rp.InitialInterval = durationpb.New(*u.RetryInitialInterval) })
	set(u.RetryBackoffCoefficient != nil, "retry_policy.backoff_coefficient", func() { rp.BackoffCoefficient = *u.RetryBackoffCoefficient })
	set(u.RetryMaximumInterval != nil, "retry_policy.maximum_interval", func() { rp.MaximumInterval = durationpb.New(*u.RetryMaximumInterval) })
	set(u.RetryMaximumAttempts != nil, "retry_policy.maximum_attempts", func() { rp.MaximumAttempts = int32(*u.RetryMaximumAttempts) })
	set(u.RetryNonRetryableErrorTypes != nil, "retry_policy.non_retryable_error_types", func() { rp.NonRetryableErrorTypes = *u.RetryNonRetryableErrorTypes })
	set(u.Retention != nil, "retention", func() { cfg.Retention = durationpb.New(*u.Retention) })
	set(u.PreferenceWait != nil, "preference_wait", func() { cfg.PreferenceWait = durationpb.New(*u.PreferenceWait) })
	set(u.FairnessKeyRateLimit != nil, "fairness_key_rate_limit", func() { cfg.FairnessKeyRateLimit = *u.FairnessKeyRateLimit })
	set(u.FairnessKeyBurst != nil, "fairness_key_burst", func() { cfg.FairnessKeyBurst = int32(*u.FairnessKeyBurst) })
	set(u.FairnessWeightOverrides != nil, "fairness_weight_overrides", func() { cfg.FairnessWeightOverrides = weightsProto(*u.FairnessWeightOverrides) })
	return cfg, paths
}

func queueConfigFromProto(p *matchingv1.QueueConfig) *QueueConfig {
	rp := p.GetRetryPolicy()
	return &QueueConfig{
		RateLimit:              p.GetRateLimit(),
		Burst:                  int(p.GetBurst()),
		PriorityLevels:         int(p.GetPriorityLevels()),
		DefaultPriority:        int(p.GetDefaultPriority()),
		ScheduleToStartTimeout: p.GetScheduleToStartTimeout().AsDuration(),
		StartToCloseTimeout:    p.GetStartToCloseTimeout().AsDuration(),
		HeartbeatTimeout:       p.GetHeartbeatTimeout().AsDuration(),
		Retry: RetryPolicy{
			InitialInterval:        rp.GetInitialInterval().AsDuration(),
			BackoffCoefficient:     rp.GetBackoffCoefficient(),
			MaximumInterval:        rp.GetMaximumInterval().AsDuration(),
			MaximumAttempts:        int(rp.GetMaximumAttempts()),
			NonRetryableErrorTypes: rp.GetNonRetryableErrorTypes(),
		},
		Retention:               p.GetRetention().AsDuration(),
		FairnessKeyRateLimit:    p.GetFairnessKeyRateLimit(),
		FairnessKeyBurst:        int(p.GetFairnessKeyBurst()),
		FairnessWeightOverrides: weightsFromProto(p.GetFairnessWeightOverrides()),
		PreferenceWait:          p.GetPreferenceWait().AsDuration(),
	}
}

func weightsProto(in map[string]int) map[string]int32 {
	if len(in) == 0 {
		return nil
	}
	out := make(map[string]int32, len(in))
	for k, w := range in {
		out[k] = int32(w)
	}
	return out
}

func weightsFromProto(in map[string]int32) map[string]int {
	if len(in) == 0 {
		return nil
	}
	out := make(map[string]int, len(in))
	for k, w := range in {
		out[k] = int(w)
	}
	return out
}

type queueConfigJSON struct {
	RateLimit               float64         `json:"rateLimit"`
	Burst                   int             `json:"burst"`
	PriorityLevels          int             `json:"priorityLevels"`
	DefaultPriority         int             `json:"defaultPriority"`
	ScheduleToStartTimeout  string          `json:"scheduleToStartTimeout"`
	StartToCloseTimeout     string          `json:"startToCloseTimeout"`
	HeartbeatTimeout        string          `json:"heartbeatTimeout"`
	Retry                   retryPolicyJSON `json:"retryPolicy"`
	Retention               string          `json:"retention"`
	FairnessKeyRateLimit    float64         `json:"fairnessKeyRateLimit,omitempty"`
	FairnessKeyBurst        int             `json:"fairnessKeyBurst,omitempty"`
	FairnessWeightOverrides map[string]int  `json:"fairnessWeightOverrides,omitempty"`
	PreferenceWait          string          `json:"preferenceWait"`
	ManagedBy               string          `json:"managedBy,omitempty"`
}

type retryPolicyJSON struct {
	InitialInterval        string   `json:"initialInterval"`
	BackoffCoefficient     float64  `json:"backoffCoefficient"`
	MaximumInterval        string   `json:"maximumInterval"`
	MaximumAttempts        int      `json:"maximumAttempts"`
	NonRetryableErrorTypes []string `json:"nonRetryableErrorTypes,omitempty"`
}

// MarshalJSON writes the field names of the TaskQueue spec and durations as strings.
func (q QueueConfig) MarshalJSON() ([]byte, error) {
	return json.Marshal(queueConfigJSON{
		RateLimit: q.RateLimit, Burst: q.Burst, PriorityLevels: q.PriorityLevels, DefaultPriority: q.DefaultPriority,
		ScheduleToStartTimeout: q.ScheduleToStartTimeout.String(), StartToCloseTimeout: q.StartToCloseTimeout.String(),
		HeartbeatTimeout: q.HeartbeatTimeout.String(),
		Retry: retryPolicyJSON{
			InitialInterval: q.Retry.InitialInterval.String(), BackoffCoefficient: q.Retry.BackoffCoefficient,
			MaximumInterval: q.Retry.MaximumInterval.String(), MaximumAttempts: q.Retry.MaximumAttempts,
			NonRetryableErrorTypes: q.Retry.NonRetryableErrorTypes,
		},
		Retention: q.Retention.String(), PreferenceWait: q.PreferenceWait.String(), ManagedBy: q.ManagedBy,
		FairnessKeyRateLimit: q.FairnessKeyRateLimit, FairnessKeyBurst: q.FairnessKeyBurst, FairnessWeightOverrides: q.FairnessWeightOverrides,
	})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (q *QueueConfig) UnmarshalJSON(data []byte) error {
	var j queueConfigJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	out := QueueConfig{RateLimit: j.RateLimit, Burst: j.Burst, PriorityLevels: j.PriorityLevels, DefaultPriority: j.DefaultPriority,
		Retry: RetryPolicy{BackoffCoefficient: j.Retry.BackoffCoefficient, MaximumAttempts: j.Retry.MaximumAttempts,
			NonRetryableErrorTypes: j.Retry.NonRetryableErrorTypes}, ManagedBy: j.ManagedBy,
		FairnessKeyRateLimit: j.FairnessKeyRateLimit, FairnessKeyBurst: j.FairnessKeyBurst, FairnessWeightOverrides: j.FairnessWeightOverrides}
	for _, d := range []struct {
		dst *time.Duration
		src string
	}{
		{&out.ScheduleToStartTimeout, j.ScheduleToStartTimeout}, {&out.StartToCloseTimeout, j.StartToCloseTimeout},
		{&out.HeartbeatTimeout, j.HeartbeatTimeout}, {&out.Retention, j.Retention}, {&out.PreferenceWait, j.PreferenceWait},
		{&out.Retry.InitialInterval, j.Retry.InitialInterval}, {&out.Retry.MaximumInterval, j.Retry.MaximumInterval},
	} {
		if d.src == "" {
			continue
		}
		v, err := time.ParseDuration(d.src)
		if err != nil {
			return err
		}
		*d.dst = v
	}
	*q = out
	return nil
}
