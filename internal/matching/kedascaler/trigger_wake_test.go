package kedascaler

import (
	"testing"

	esv1 "github.com/taskroute/taskroute/api/externalscaler/v1alpha1"
	"github.com/taskroute/taskroute/internal/queueconfig"
)

// TestWakeFilterNarrowsToThePool: a stream's backlog watch subscription is its queue's,
// narrowed to what the trigger's pool serves (kind, priorities, capabilities), so a task
// its pool cannot take does not wake it; without a capabilities key every requirement
// counts, as in the trigger's metric.
func TestWakeFilterNarrowsToThePool(t *testing.T) {
	parse := func(md map[string]string) trigger {
		t.Helper()
		md["queue"] = "embed"
		tr, err := parseTrigger(&esv1.ScaledObjectRef{Name: "pool", Namespace: "ml", ScalerMetadata: md})
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	gpu := []queueconfig.Capability{{Name: "gpu", Value: "a100"}}
	tpu := []queueconfig.Capability{{Name: "tpu"}}
	gpuPool := parse(map[string]string{"kind": "activity", "capabilities": "gpu=a100", "priorities": "3,4"})
	anyPool := parse(map[string]string{})
	cases := []struct {
		name string
		tr   trigger
		wake queueconfig.Wake
		want bool
	}{
		{"gpu task", gpuPool, queueconfig.Wake{Kind: queueconfig.KindActivity, Priority: 3, Requires: gpu}, true},
		{"plain task", gpuPool, queueconfig.Wake{Kind: queueconfig.KindActivity, Priority: 4}, true},
		{"tpu task", gpuPool, queueconfig.Wake{Kind: queueconfig.KindActivity, Priority: 3, Requires: tpu}, false},
		{"other priority", gpuPool, queueconfig.Wake{Kind: queueconfig.KindActivity, Priority: 5, Requires: gpu}, false},
		{"other kind", gpuPool, queueconfig.Wake{Kind: queueconfig.KindWorkflow, Priority: 3, Requires: gpu}, false},
		{"any pool, tpu task", anyPool, queueconfig.Wake{Kind: queueconfig.KindWorkflow, Priority: 9, Requires: tpu}, true},
	}
	for _, c := range cases {
		f := c.tr.wakeFilter()
		if f.Namespace != "ml" || f.Name != "embed" {
			t.Fatalf("%s: filter of %s/%s, want ml/embed", c.name, f.Namespace, f.Name)
		}
		if got := f.Serves(c.wake); got != c.want {
			t.Errorf("%s: Serves = %v, want %v", c.name, got, c.want)
		}
	}
}
