package server

import (
	"context"

	"google.golang.org/protobuf/types/known/durationpb"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/queueconfig"
)

func (s *Server) GetQueueConfig(_ context.Context, r *matchingv1.GetQueueConfigRequest) (*matchingv1.GetQueueConfigResponse, error) {
	key, err := queueKey(r.GetNamespace(), r.GetQueue())
	if err != nil {
		return nil, err
	}
	cfg, managed := s.e.QueueConfig(key)
	resp := &matchingv1.GetQueueConfigResponse{Config: queueConfigToProto(cfg)}
	if managed {
		resp.ManagedBy = "TaskQueue " + key.String()
	}
	return resp, nil
}

func (s *Server) SetQueueConfig(ctx context.Context, r *matchingv1.SetQueueConfigRequest) (*matchingv1.SetQueueConfigResponse, error) {
	key, err := queueKey(r.GetNamespace(), r.GetQueue())
	if err != nil {
		return nil, err
	}
	setters, err := maskedSetters(r.GetUpdateMask().GetPaths())
	if err != nil {
		return nil, err
	}
	cfg, err := s.e.Update(ctx, key, func(cfg *queueconfig.Config) error {
		for _, set := range setters {
			if err := set(cfg, r.GetConfig()); err != nil {
				return err
			}
		}
		return checkQueueConfig(cfg)
	})
	if err != nil {
		return nil, err
	}
	return &matchingv1.SetQueueConfigResponse{Config: queueConfigToProto(cfg)}, nil
}

func (s *Server) ResetQueueConfig(ctx context.Context, r *matchingv1.ResetQueueConfigRequest) (*matchingv1.ResetQueueConfigResponse, error) {
	key, err := queueKey(r.GetNamespace(), r.GetQueue())
	if err != nil {
		return nil, err
	}
	cfg, err := s.e.Reset(ctx, key)
	if err != nil {
		return nil, err
	}
	return &matchingv1.ResetQueueConfigResponse{Config: queueConfigToProto(cfg)}, nil
}

func queueKey(ns, queue string) (queueconfig.Key, error) {
	if err := checkNamespace("namespace", ns); err != nil {
		return queueconfig.Key{}, err
	}
	if err := checkQueue("queue", queue); err != nil {
		return queueconfig.Key{}, err
	}
	return queueconfig.Key{Namespace: ns, Name: queue}, nil
}

// queueConfigToProto sets every field, so a reader sees the values in effect (a zero
// duration is "no limit").
func queueConfigToProto(c queueconfig.Config) *matchingv1.QueueConfig {
	return &matchingv1.QueueConfig{
		RateLimit:              c.RateLimit,
		Burst:                  int32(c.Burst),
		PriorityLevels:         int32(c.PriorityLevels),
		DefaultPriority:        int32(c.DefaultPriority),
		ScheduleToStartTimeout: durationpb.New(c.ScheduleToStartTimeout),
		StartToCloseTimeout:    durationpb.New(c.StartToCloseTimeout),
		HeartbeatTimeout:       durationpb.New(c.HeartbeatTimeout),
		RetryPolicy: &matchingv1.RetryPolicy{
			InitialInterval:        durationpb.New(c.Retry.InitialInterval),
			BackoffCoefficient:     c.Retry.BackoffCoefficient,
			MaximumInterval:        durationpb.New(c.Retry.MaximumInterval),
			MaximumAttempts:        int32(c.Retry.MaximumAttempts),
			NonRetryableErrorTypes: c.Retry.NonRetryableErrorTypes,
		},
		Retention:               durationpb.New(c.Retention),
		PreferenceWait:          durationpb.New(c.PreferenceWait),
		FairnessKeyRateLimit:    c.FairnessKeyRateLimit,
		FairnessKeyBurst:        int32(c.FairnessKeyBurst),
		FairnessWeightOverrides: c.FairnessWeightOverrides,
	}
}
