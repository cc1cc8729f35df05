package matching

import (
	"reflect"
	"slices"
	"testing"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"

	"github.com/taskroute/taskroute/internal/queueconfig"
)

// TestBacklogWatchGetsTheEngineWakes: tasks entering an empty backlog level of a queue
// leave one signal for each subscription of that queue (however many tasks), describe the
// level, and reach no subscription of another queue nor a stopped one.
func TestBacklogWatchGetsTheEngineWakes(t *testing.T) {
	v := open(t, t.TempDir(), Options{})
	w := v.e.BacklogWatch()
	var levels []queueconfig.Wake
	watched := w.Subscribe(queueconfig.WakeFilter{Namespace: "ns", Name: "q", Serves: func(wk queueconfig.Wake) bool {
		levels = append(levels, wk) // under the watch's lock, on the add's path
		return true
	}})
	other := w.Subscribe(queueconfig.WakeFilter{Namespace: "ns", Name: "other"})
	defer other.Stop()

	gpu := func(s *matchingv1.TaskSpec) {
		s.Priority = 4
		s.Requires = []*matchingv1.Capability{{Name: "gpu", Value: "a100"}}
	}
	add(t, v.e, tspec("a", gpu), tspec("b", gpu), tspec("c", gpu))
	select {
	case <-watched.Ready():
	default:
		t.Fatal("no signal after tasks entered the backlog")
	}
	select {
	case <-watched.Ready():
		t.Fatal("three tasks left more than one signal")
	default:
	}
	key := queueconfig.Key{Namespace: "ns", Name: "q"}
	if got := watched.Take(); !slices.Equal(got, []queueconfig.Key{key}) {
		t.Fatalf("Take = %v, want [%v]", got, key)
	}
	want := queueconfig.Wake{Key: key, Kind: queueconfig.KindActivity, Priority: 4, Requires: []queueconfig.Capability{{Name: "gpu", Value: "a100"}}}
	if len(levels) != 1 || !reflect.DeepEqual(levels[0], want) {
		t.Fatalf("wakes = %+v, want one: %+v", levels, want)
	}
	select {
	case <-other.Ready():
		t.Fatal("a subscription of another queue was signalled")
	default:
	}

	watched.Stop()
	add(t, v.e, tspec("d"))
	select {
	case <-watched.Ready():
		t.Fatal("a stopped subscription was signalled")
	default:
	}
}
