package worker

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/pkg/client"
)

// defaultLivenessInterval is used until the service names its own.
const defaultLivenessInterval = 3 * time.Second

// startLiveness starts the liveness heartbeats: the service knows the worker is alive
// while it is too busy to poll, and learns within its liveness timeout when the process is
// gone (host- and process-routed tasks then fail with TargetWorkerLost instead of waiting).
func (w *Worker) startLiveness() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	w.stopLiveness = func() { cancel(); <-done }
	go func() {
		defer close(done)
		w.livenessLoop(ctx)
	}()
}

func (w *Worker) livenessLoop(ctx context.Context) {
	req := &matchingv1.RecordWorkerHeartbeatRequest{
		Namespace: w.client.Namespace(), Queue: w.opts.Queue, Kind: client.KindToProto(w.opts.Kind),
		WorkerIdentity: w.identity, Pool: w.opts.Pool, Version: w.opts.Version, Capabilities: w.capabilities,
		MaxSessions: int32(w.opts.Sessions),
	}
	interval := defaultLivenessInterval
	for {
		cctx, cancel := context.WithTimeout(ctx, w.opts.CallTimeout)
		resp, err := w.rpc.RecordWorkerHeartbeat(cctx, req)
		cancel()
		wait := interval
		switch {
		case err == nil:
			if d := resp.GetInterval().AsDuration(); d > 0 {
				interval, wait = d, d
			}
		case status.Code(err) == codes.Unimplemented:
			w.log.Info("Stopped liveness heartbeats: the matching service does not support them")
			return
		case ctx.Err() == nil:
			w.log.V(1).Info("Failed to send a liveness heartbeat", "error", err.Error())
			wait = min(interval, time.Second) // try again soon: a short outage must not look like a death
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}
