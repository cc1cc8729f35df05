package matching

import "github.com/prometheus/client_golang/prometheus"

// sessionCollector reports the sessions the engine holds, by namespace and state, at
// scrape time (nothing is counted on the create or close path).
type sessionCollector struct{ e *Engine }

var sessionsDesc = prometheus.NewDesc("taskroute_matching_sessions",
	"Sessions held, by namespace and state (Open; Completed and Failed until the queue's retention passes).",
	[]string{"namespace", "state"}, nil)

var sessionStateNames = map[uint8]string{sessionOpen: "Open", sessionCompleted: "Completed", sessionFailed: "Failed"}

func (sessionCollector) Describe(ch chan<- *prometheus.Desc) { ch <- sessionsDesc }

func (c sessionCollector) Collect(ch chan<- prometheus.Metric) {
	type key struct {
		ns    string
		state uint8
	}
	counts := map[key]int{}
	st := c.e.sessions
	st.mu.Lock()
	for _, s := range st.byID {
		counts[key{s.Namespace, s.State}]++
	}
	st.mu.Unlock()
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(sessionsDesc, prometheus.GaugeValue, float64(n), k.ns, sessionStateNames[k.state])
	}
}
