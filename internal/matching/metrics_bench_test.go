package matching

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// BenchmarkFinishedMetric counts one finished task in its namespace's series, as every
// task's final transition does.
func BenchmarkFinishedMetric(b *testing.B) {
	m := newMetrics(nil)
	t := &task{ns: "ns"}
	b.ReportAllocs()
	for range b.N {
		m.finished(t, stateCompleted)
	}
}

// TestFinishedMetricCountsEachState: the series resolved once per namespace and state
// count the finishes of that state only.
func TestFinishedMetricCountsEachState(t *testing.T) {
	m := newMetrics(nil)
	for range 3 {
		m.finished(&task{ns: "a"}, stateCompleted)
	}
	m.finished(&task{ns: "a"}, stateFailed)
	m.finished(&task{ns: "b"}, stateCompleted)
	for _, c := range []struct {
		ns, state string
		want      float64
	}{{"a", "Completed", 3}, {"a", "Failed", 1}, {"b", "Completed", 1}, {"b", "Failed", 0}} {
		if got := testutil.ToFloat64(m.finishedV.WithLabelValues(c.ns, c.state)); got != c.want {
			t.Errorf("%s %s: %v finished; want %v", c.ns, c.state, got, c.want)
		}
	}
}
