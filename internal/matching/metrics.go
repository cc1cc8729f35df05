package matching

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metric names share the taskroute_matching_ prefix. Counters and the histogram carry the
// namespace label only: a series per queue would cost a few KiB per queue that saw traffic
// and never go away, more than an idle loaded queue itself. Per-queue numbers are in
// DescribeQueue and TaskQueue status; the backlog gauges (computed at scrape, no memory)
// keep namespace and queue labels for loaded queues, for autoscaling.
type metrics struct {
	e            *Engine
	added        *prometheus.CounterVec
	dispatchedV  *prometheus.CounterVec
	syncMatchedV *prometheus.CounterVec
	finishedV    *prometheus.CounterVec // state: Completed|Failed|Canceled|TimedOut
	attemptFails *prometheus.CounterVec // reason: Failed|StartToCloseTimeout|HeartbeatTimeout|ScheduleToStartTimeout
	s2s          *prometheus.HistogramVec
	perNS        sync.Map // namespace -> *queueMetrics
}

type queueMetrics struct {
	added, dispatched, syncMatched prometheus.Counter
	s2s                            prometheus.Observer
	// finished holds the series of each final state once a task reached it: resolving a
	// labelled series hashes its labels and allocates, once per finished task before.
	// Created on first use, so the states no task reached have no series, as before.
	finished [stateTerminated + 1]atomic.Pointer[prometheus.Counter]
}

func newMetrics(e *Engine) *metrics {
	l := []string{"namespace"}
	m := &metrics{
		e: e,
		added: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "taskroute_matching_tasks_added_total",
			Help: "Tasks scheduled (new task ids only)."}, l),
		dispatchedV: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "taskroute_matching_tasks_dispatched_total",
			Help: "Attempts started: tasks handed to workers, from the backlog or by sync match."}, l),
		syncMatchedV: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "taskroute_matching_tasks_sync_matched_total",
			Help: "Tasks handed to a waiting poller directly when added or made ready."}, l),
		finishedV: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "taskroute_matching_tasks_finished_total",
			Help: "Tasks that reached a final state, by state (Completed, Failed, Canceled, TimedOut)."}, append(l, "state")),
		attemptFails: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "taskroute_matching_attempt_failures_total",
			Help: "Attempts that ended without success, by reason (Failed, StartToCloseTimeout, HeartbeatTimeout, ScheduleToStartTimeout)."}, append(l, "reason")),
		s2s: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "taskroute_matching_schedule_to_start_seconds",
			Help:    "Time from a task becoming ready to its attempt starting.",
			Buckets: []float64{.0001, .0005, .001, .005, .01, .05, .1, .5, 1, 5, 30, 120, 600}}, l),
	}
	return m
}

// Register adds the engine's metrics to reg (the manager passes controller-runtime's), and
// returns what takes them out again: the service does once it stopped, so a closed engine
// exports nothing and another one can register in the same process.
func (e *Engine) Register(reg prometheus.Registerer) (unregister func(), err error) {
	m := e.metrics
	var done []prometheus.Collector
	unregister = func() {
		for _, c := range done {
			reg.Unregister(c)
		}
	}
	for _, c := range []prometheus.Collector{m.added, m.dispatchedV, m.syncMatchedV, m.finishedV, m.attemptFails, m.s2s, backlogCollector{e}, sessionCollector{e}} {
		if err := reg.Register(c); err != nil {
			unregister()
			return nil, err
		}
		done = append(done, c)
	}
	return unregister, nil
}

// namespace returns the series of a namespace, shared by its queues.
func (m *metrics) namespace(ns string) *queueMetrics {
	if v, ok := m.perNS.Load(ns); ok {
		return v.(*queueMetrics)
	}
	qm := &queueMetrics{
		added:       m.added.WithLabelValues(ns),
		dispatched:  m.dispatchedV.WithLabelValues(ns),
		syncMatched: m.syncMatchedV.WithLabelValues(ns),
		s2s:         m.s2s.WithLabelValues(ns),
	}
	v, _ := m.perNS.LoadOrStore(ns, qm)
	return v.(*queueMetrics)
}

// The hooks below use the series of q's namespace, resolved once when q was loaded.
func (m *metrics) added1(q *queueManager)      { q.qm.added.Inc() }
func (m *metrics) syncMatched(q *queueManager) { q.qm.syncMatched.Inc() }
func (m *metrics) dispatched(q *queueManager, s2s time.Duration) {
	qm := q.qm
	qm.dispatched.Inc()
	qm.s2s.Observe(s2s.Seconds())
}

var stateNames = map[uint8]string{stateCompleted: "Completed", stateFailed: "Failed", stateCanceled: "Canceled", stateTimedOut: "TimedOut", stateTerminated: "Terminated"}

func (m *metrics) finished(t *task, state uint8) {
	slot := &m.namespace(t.ns).finished[state]
	c := slot.Load()
	if c == nil {
		series := m.finishedV.WithLabelValues(t.ns, stateNames[state])
		c = &series
		slot.Store(c) // a racing finish stores the same series
	}
	(*c).Inc()
}

func (m *metrics) failedAttempt(t *task, reason string) {
	m.attemptFails.WithLabelValues(t.ns, reason).Inc()
}

// backlogCollector reports backlog gauges of loaded queues at scrape time, so no gauge is
// updated on the hot path.
type backlogCollector struct{ e *Engine }

var (
	backlogDesc = prometheus.NewDesc("taskroute_matching_backlog_tasks",
		"Tasks waiting in a loaded queue, by kind and priority.", []string{"namespace", "queue", "kind", "priority"}, nil)
	backlogAgeDesc = prometheus.NewDesc("taskroute_matching_backlog_oldest_age_seconds",
		"Age of the oldest waiting task of a loaded queue, by kind and priority.", []string{"namespace", "queue", "kind", "priority"}, nil)
	loadedDesc = prometheus.NewDesc("taskroute_matching_loaded_queues", "Queues loaded in memory.", nil, nil)
)

func (backlogCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- backlogDesc
	ch <- backlogAgeDesc
	ch <- loadedDesc
}

func (c backlogCollector) Collect(ch chan<- prometheus.Metric) {
	e := c.e
	qs := e.loadedQueues()
	ch <- prometheus.MustNewConstMetric(loadedDesc, prometheus.GaugeValue, float64(len(qs)))
	now := e.now().UnixNano()
	for _, q := range qs {
		q.backlogGauges(now, func(kind uint8, prio int, count int64, age time.Duration) {
			k, p := "Activity", strconv.Itoa(prio)
			if kind == kindWorkflow {
				k = "Workflow"
			}
			ch <- prometheus.MustNewConstMetric(backlogDesc, prometheus.GaugeValue, float64(count), q.ref.Namespace, q.ref.Queue, k, p)
			ch <- prometheus.MustNewConstMetric(backlogAgeDesc, prometheus.GaugeValue, age.Seconds(), q.ref.Namespace, q.ref.Queue, k, p)
		})
	}
}
