package kedascaler

import (
	"time"

	"google.golang.org/grpc"

	esv1 "github.com/taskroute/taskroute/api/externalscaler/v1alpha1"
)

// StreamIsActive sends the activation at once, then again whenever it changes: a task that
// enters an empty level of the queue's backlog that the trigger serves wakes the stream
// through the engine's backlog watch (so a pool scaled to zero is activated without
// waiting for KEDA's polling interval), and a periodic re-check reports deactivation.
func (s *Scaler) StreamIsActive(ref *esv1.ScaledObjectRef, stream grpc.ServerStreamingServer[esv1.IsActiveResponse]) error {
	tr, err := parseTrigger(ref)
	if err != nil {
		return err
	}
	ctx := stream.Context()
	wakes := s.src.BacklogWatch().Subscribe(tr.wakeFilter())
	defer wakes.Stop()
	recheck := time.NewTicker(s.opts.Recheck)
	defer recheck.Stop()
	sent := false
	last := false
	for {
		active, err := s.active(ctx, tr)
		if err != nil {
			return err
		}
		if !sent || active != last {
			if err := stream.Send(&esv1.IsActiveResponse{Result: active}); err != nil {
				return err
			}
			sent, last = true, active
		}
		select {
		case <-ctx.Done():
			return nil
		case <-wakes.Ready():
		case <-recheck.C:
		}
	}
}
