package worker

import (
	"context"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

// endPolls ends this worker's polls without losing an answer: ShutdownWorker makes the
// service return the waiting polls at once (with the tasks they already hold) and answer
// late ones empty, and endPolls waits for them to come back. Only when the service cannot
// be told (unreachable, or a service without ShutdownWorker), or ctx ends first, are the
// poll calls cancelled; the service then gives back the tasks of a poll whose caller left.
func (w *Worker) endPolls(ctx context.Context) {
	returned := make(chan struct{})
	go func() { w.pollWG.Wait(); close(returned) }()

	cctx, cancel := context.WithTimeout(ctx, w.opts.CallTimeout)
	resp, err := w.rpc.ShutdownWorker(cctx, &matchingv1.ShutdownWorkerRequest{
		Namespace: w.client.Namespace(), Queue: w.opts.Queue, WorkerIdentity: w.identity,
	})
	cancel()
	if err != nil {
		w.log.Info("Cancelled polls: the service could not be told of the shutdown", "queue", w.opts.Queue, "error", err.Error())
		w.callCancel()
		<-returned
		return
	}
	w.log.V(1).Info("Told the service of the shutdown", "queue", w.opts.Queue, "returnedPolls", resp.GetReturnedPolls())
	select {
	case <-returned:
	case <-ctx.Done():
		w.callCancel()
		<-returned
	}
}
