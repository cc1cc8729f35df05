package server

import (
	"sync"

	"google.golang.org/grpc/status"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/matching"
)

// failAll records the failures of msgs as FailTask does, each on its own goroutine so that
// their writes share group commits with each other and with the completions committed
// meanwhile. The returned wait gives, per message, one ItemError per failure (code 0:
// recorded).
func (ws *workerStream) failAll(msgs []*matchingv1.WorkerStreamRequest) (wait func() [][]*matchingv1.ItemError) {
	out := make([][]*matchingv1.ItemError, len(msgs))
	var wg sync.WaitGroup
	for i, m := range msgs {
		fs := m.GetFailures()
		if len(fs) == 0 {
			continue
		}
		out[i] = make([]*matchingv1.ItemError, len(fs))
		for j, f := range fs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				by := matching.Owner{Principal: ws.principal, Identity: f.GetWorkerIdentity()}
				_, err := ws.s.e.FailAs(f.GetNamespace(), f.GetTaskId(), f.GetLeaseId(), by, f.GetFailure())
				st := status.Convert(err)
				out[i][j] = &matchingv1.ItemError{Code: int32(st.Code()), Message: st.Message()}
			}()
		}
	}
	return func() [][]*matchingv1.ItemError {
		wg.Wait()
		return out
	}
}
