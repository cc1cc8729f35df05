// Package kedascaler serves KEDA's external scaler protocol (api/externalscaler/v1alpha1)
// on the matching service's gRPC server: a ScaledObject names a queue, optionally narrowed
// to what one pool serves (kind, capabilities, priorities), and scales on that part of the
// backlog, by count or by the age of its oldest task (docs/autoscaling.md).
package kedascaler

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	esv1 "github.com/taskroute/taskroute/api/externalscaler/v1alpha1"
	"github.com/taskroute/taskroute/internal/queueconfig"
)

// Source is what the scaler reads from the matching engine.
type Source interface {
	// Stats returns the queue's backlog per kind, priority and requirement set.
	Stats(ctx context.Context, key queueconfig.Key) (queueconfig.Stats, error)
	// BacklogWatch signals (coalesced, never blocking the engine) that a task entered an
	// empty level of a queue's backlog.
	BacklogWatch() *queueconfig.BacklogWatch
}

// Options tune the scaler; the zero value is fine.
type Options struct {
	// Recheck is how often an open StreamIsActive re-reads the backlog, to report
	// deactivation (and tasks that entered the backlog without a notification, such as
	// backlogs loaded after a restart); 0 means 5s.
	Recheck time.Duration
}

// Scaler implements esv1.ExternalScalerServer over a Source.
type Scaler struct {
	esv1.UnimplementedExternalScalerServer
	src  Source
	opts Options
}

// New returns a scaler reading src.
func New(src Source, opts Options) *Scaler {
	if opts.Recheck <= 0 {
		opts.Recheck = 5 * time.Second
	}
	return &Scaler{src: src, opts: opts}
}

// Register registers the ExternalScaler service on g.
func (s *Scaler) Register(g *grpc.Server) { esv1.RegisterExternalScalerServer(g, s) }

// IsActive reports whether the narrowed backlog holds a task.
func (s *Scaler) IsActive(ctx context.Context, ref *esv1.ScaledObjectRef) (*esv1.IsActiveResponse, error) {
	tr, err := parseTrigger(ref)
	if err != nil {
		return nil, err
	}
	active, err := s.active(ctx, tr)
	if err != nil {
		return nil, err
	}
	return &esv1.IsActiveResponse{Result: active}, nil
}

// GetMetricSpec names the trigger's metric and its target per replica.
func (s *Scaler) GetMetricSpec(_ context.Context, ref *esv1.ScaledObjectRef) (*esv1.GetMetricSpecResponse, error) {
	tr, err := parseTrigger(ref)
	if err != nil {
		return nil, err
	}
	spec := &esv1.MetricSpec{MetricName: tr.metricName(), TargetSize: int64(max(1, tr.target+0.5)), TargetSizeFloat: tr.target}
	return &esv1.GetMetricSpecResponse{MetricSpecs: []*esv1.MetricSpec{spec}}, nil
}

// GetMetrics returns the trigger's metric: servable tasks, or the oldest one's age in
// seconds.
func (s *Scaler) GetMetrics(ctx context.Context, r *esv1.GetMetricsRequest) (*esv1.GetMetricsResponse, error) {
	tr, err := parseTrigger(r.GetScaledObjectRef())
	if err != nil {
		return nil, err
	}
	if r.GetMetricName() != tr.metricName() {
		return nil, status.Errorf(codes.InvalidArgument, "metricName: this trigger serves %q, got %q", tr.metricName(), r.GetMetricName())
	}
	count, oldest, err := s.servable(ctx, tr)
	if err != nil {
		return nil, err
	}
	value := float64(count)
	if tr.metric == MetricBacklogAge {
		value = oldest.Seconds()
	}
	mv := &esv1.MetricValue{MetricName: tr.metricName(), MetricValue: int64(value), MetricValueFloat: value}
	return &esv1.GetMetricsResponse{MetricValues: []*esv1.MetricValue{mv}}, nil
}

func (s *Scaler) active(ctx context.Context, tr trigger) (bool, error) {
	count, _, err := s.servable(ctx, tr)
	return count > 0, err
}

func (s *Scaler) servable(ctx context.Context, tr trigger) (int64, time.Duration, error) {
	st, err := s.src.Stats(ctx, tr.key)
	if err != nil {
		return 0, 0, status.Errorf(codes.Unavailable, "reading the backlog of %s/%s: %v", tr.key.Namespace, tr.key.Name, err)
	}
	count, oldest := tr.servable(st)
	return count, oldest, nil
}
