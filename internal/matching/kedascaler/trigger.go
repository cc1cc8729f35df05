package kedascaler

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	esv1 "github.com/taskroute/taskroute/api/externalscaler/v1alpha1"
	"github.com/taskroute/taskroute/internal/queueconfig"
)

// Metadata keys of a ScaledObject's external trigger (docs/autoscaling.md).
const (
	keyQueue         = "queue"
	keyKind          = "kind"
	keyCapabilities  = "capabilities"
	keyPriorities    = "priorities"
	keyVersion       = "version"
	keyMetric        = "metric"
	keyTargetBacklog = "targetBacklog"
	keyTargetAge     = "targetAge"
)

// kedaKeys are KEDA's own keys of an external trigger; KEDA passes them on, so they are
// accepted and ignored.
var kedaKeys = []string{"scalerAddress", "enableTLS", "unsafeSsl"}

// The metrics a trigger can scale on, as named in the metric key and in the metric spec.
const (
	MetricBacklog    = "backlog"    // servable tasks waiting; target: tasks per replica
	MetricBacklogAge = "backlogAge" // age of the oldest servable task in seconds
)

// Defaults of the targets, per replica.
const (
	defaultTargetBacklog = 10
	defaultTargetAge     = 30 * time.Second
	maxPriority          = 10 // priority levels of a queue are 1..10
)

// trigger is a parsed ScaledObjectRef: which backlog to measure and how to scale on it.
type trigger struct {
	key     queueconfig.Key
	kind    string // queueconfig.KindActivity, KindWorkflow, or "" for both
	profile queueconfig.WorkerProfile
	// anyCapabilities: no capabilities key, so tasks count whatever they require (the
	// whole queue). With the key, only tasks the listed capabilities meet count, as for a
	// pool advertising exactly those (an empty value: tasks that require nothing).
	anyCapabilities bool
	metric          string
	target          float64 // tasks per replica, or seconds of age
}

// parseTrigger validates the ScaledObjectRef; errors are InvalidArgument naming the key.
func parseTrigger(ref *esv1.ScaledObjectRef) (trigger, error) {
	md := ref.GetScalerMetadata()
	tr := trigger{key: queueconfig.Key{Namespace: ref.GetNamespace(), Name: md[keyQueue]}, metric: MetricBacklog}
	if tr.key.Namespace == "" {
		return tr, invalid("namespace", "required (the ScaledObject's namespace)")
	}
	for k := range md {
		if !knownKey(k) {
			return tr, invalid(k, "unknown key; known keys: %s", strings.Join(knownKeys(), ", "))
		}
	}
	if tr.key.Name == "" {
		return tr, invalid(keyQueue, "required")
	}
	if _, ok := md[keyVersion]; ok {
		return tr, invalid(keyVersion, "not supported: tasks are not routed by version yet, so a version's backlog is the whole pool's; remove the key")
	}
	steps := []func(map[string]string, *trigger) error{parseKind, parseCapabilities, parsePriorities, parseMetric}
	for _, step := range steps {
		if err := step(md, &tr); err != nil {
			return tr, err
		}
	}
	return tr, nil
}

func knownKeys() []string {
	return []string{keyQueue, keyKind, keyCapabilities, keyPriorities, keyMetric, keyTargetBacklog, keyTargetAge}
}

func knownKey(k string) bool {
	return k == keyVersion || slices.Contains(knownKeys(), k) || slices.Contains(kedaKeys, k)
}

func parseKind(md map[string]string, tr *trigger) error {
	switch strings.ToLower(md[keyKind]) {
	case "":
	case "activity":
		tr.kind = queueconfig.KindActivity
	case "workflow":
		tr.kind = queueconfig.KindWorkflow
	default:
		return invalid(keyKind, "want Activity or Workflow, got %q", md[keyKind])
	}
	return nil
}

// parseCapabilities reads "gpu=a100,arch": the capabilities the pool's workers advertise.
func parseCapabilities(md map[string]string, tr *trigger) error {
	s, ok := md[keyCapabilities]
	tr.anyCapabilities = !ok
	if s = strings.TrimSpace(s); s == "" {
		return nil
	}
	for _, part := range strings.Split(s, ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(part), "=")
		if name == "" {
			return invalid(keyCapabilities, "empty capability name in %q (want name=value or name, comma-separated)", s)
		}
		tr.profile.Capabilities = append(tr.profile.Capabilities, queueconfig.Capability{Name: name, Value: value})
	}
	return nil
}

// parsePriorities reads "3,4,5": the priority levels the pool's workers poll.
func parsePriorities(md map[string]string, tr *trigger) error {
	s := strings.TrimSpace(md[keyPriorities])
	if s == "" {
		return nil
	}
	for _, part := range strings.Split(s, ",") {
		p, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || p < 1 || p > maxPriority {
			return invalid(keyPriorities, "want levels 1..%d, comma-separated, got %q", maxPriority, s)
		}
		tr.profile.Priorities = append(tr.profile.Priorities, p)
	}
	return nil
}

func parseMetric(md map[string]string, tr *trigger) error {
	if m := md[keyMetric]; m != "" {
		tr.metric = m
	}
	switch tr.metric {
	case MetricBacklog:
		if _, ok := md[keyTargetAge]; ok {
			return invalid(keyTargetAge, "applies to metric %s only", MetricBacklogAge)
		}
		return parseTargetBacklog(md, tr)
	case MetricBacklogAge:
		if _, ok := md[keyTargetBacklog]; ok {
			return invalid(keyTargetBacklog, "applies to metric %s only", MetricBacklog)
		}
		return parseTargetAge(md, tr)
	}
	return invalid(keyMetric, "want %s or %s, got %q", MetricBacklog, MetricBacklogAge, tr.metric)
}

func parseTargetBacklog(md map[string]string, tr *trigger) error {
	tr.target = defaultTargetBacklog
	s, ok := md[keyTargetBacklog]
	if !ok {
		return nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || !(v > 0) || v > 1e9 {
		return invalid(keyTargetBacklog, "want a positive number of tasks per replica, got %q", s)
	}
	tr.target = v
	return nil
}

func parseTargetAge(md map[string]string, tr *trigger) error {
	tr.target = defaultTargetAge.Seconds()
	s, ok := md[keyTargetAge]
	if !ok {
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return invalid(keyTargetAge, "want a positive duration such as 30s, got %q", s)
	}
	tr.target = d.Seconds()
	return nil
}

// metricName is the name in the metric spec; KEDA prefixes it with the trigger's index.
func (tr trigger) metricName() string {
	if tr.metric == MetricBacklogAge {
		return "taskroute-backlog-age"
	}
	return "taskroute-backlog"
}

// servable filters the queue's backlog to the trigger's kind, capabilities and priorities.
func (tr trigger) servable(st queueconfig.Stats) (count int64, oldest time.Duration) {
	for _, b := range st.Backlog {
		if tr.serves(b) {
			count += b.Count
			oldest = max(oldest, b.OldestAge)
		}
	}
	return count, oldest
}

// serves reports whether the trigger's pool may take tasks of a backlog level: its kind,
// priorities and (with the capabilities key) capabilities.
func (tr trigger) serves(b queueconfig.Backlog) bool {
	if tr.kind != "" && b.Kind != tr.kind {
		return false
	}
	if tr.anyCapabilities {
		b.Requires = nil
	}
	return tr.profile.Serves(b)
}

// wakeFilter selects the wakes of the levels of the trigger's queue it serves, so a
// stream is not woken by tasks its pool cannot take.
func (tr trigger) wakeFilter() queueconfig.WakeFilter {
	return queueconfig.WakeFilter{Namespace: tr.key.Namespace, Name: tr.key.Name, Serves: func(w queueconfig.Wake) bool {
		return tr.serves(queueconfig.Backlog{Kind: w.Kind, Priority: w.Priority, Requires: w.Requires})
	}}
}

func invalid(key, format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, "%s: %s", key, fmt.Sprintf(format, args...))
}
