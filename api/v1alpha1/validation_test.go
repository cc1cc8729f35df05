package v1alpha1_test

import (
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	v1alpha1 "github.com/taskroute/taskroute/api/v1alpha1"
)

// minimalPool is the smallest valid WorkerPool spec; cases add to it.
const minimalPool = `
queue: orders
template:
  spec:
    containers:
    - name: worker
      image: example.com/worker:1
`

// object builds an unstructured object from a YAML spec, the way a user writes it.
func object(kind, name, spec string) *unstructured.Unstructured {
	var specMap map[string]any
	ExpectWithOffset(1, yaml.Unmarshal([]byte(spec), &specMap)).To(Succeed())
	u := &unstructured.Unstructured{Object: map[string]any{"spec": specMap}}
	u.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind(kind))
	u.SetNamespace("default")
	u.SetName(name)
	return u
}

// poolWith merges extra YAML into the minimal pool spec.
func poolWith(extra string) string { return minimalPool + extra }

var counter int

// manyHosts lists n distinct host names, comma-separated.
func manyHosts(n int) string {
	hosts := make([]string, n)
	for i := range hosts {
		hosts[i] = fmt.Sprintf("node-%d", i)
	}
	return strings.Join(hosts, ",")
}

func uniqueName(prefix string) string {
	counter++
	return fmt.Sprintf("%s-%d", prefix, counter)
}

var _ = Describe("Invalid objects are rejected with a message naming the field", func() {
	DescribeTable("rejected",
		func(kind, spec string, wantField, wantMessage string) {
			err := k8sClient.Create(ctx, object(kind, uniqueName("bad"), spec))
			Expect(err).To(HaveOccurred(), "the API server accepted an invalid %s", kind)
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want Invalid, got %v", err)
			Expect(err.Error()).To(ContainSubstring(wantField))
			Expect(err.Error()).To(ContainSubstring(wantMessage))
		},
		// TaskQueue
		Entry("zero global rate", "TaskQueue", `rateLimit: {tasksPerSecond: "0"}`,
			"spec.rateLimit", "tasksPerSecond must be greater than 0"),
		Entry("burst 0 with a rate", "TaskQueue", `rateLimit: {tasksPerSecond: "10", burst: 0}`,
			"spec.rateLimit", "burst must be at least 1"),
		Entry("zero fairness key rate", "TaskQueue", `fairness: {keyRateLimit: {tasksPerSecond: "0"}}`,
			"spec.fairness.keyRateLimit", "tasksPerSecond must be greater than 0 and at most 100000"),
		Entry("fairness key burst 0", "TaskQueue", `fairness: {keyRateLimit: {tasksPerSecond: "5", burst: 0}}`,
			"spec.fairness.keyRateLimit.burst", "greater than or equal to 1"),
		Entry("fairness weight 0", "TaskQueue", `fairness: {weightOverrides: {gold: 0}}`,
			"spec.fairness", "weights must be within 1..1000"),
		Entry("fairness weight over 1000", "TaskQueue", `fairness: {weightOverrides: {gold: 1001}}`,
			"spec.fairness", "weights must be within 1..1000"),
		Entry("fairness key over 64 characters", "TaskQueue", `fairness: {weightOverrides: {`+strings.Repeat("k", 65)+`: 2}}`,
			"spec.fairness", "keys must be 1..64 characters"),
		Entry("default priority above the levels", "TaskQueue", `priority: {levels: 3, defaultLevel: 4}`,
			"spec.priority", "defaultLevel must be within 1..spec.priority.levels"),
		Entry("preference wait over a minute", "TaskQueue", `preferenceWait: 61s`,
			"spec.preferenceWait", "must be within 0s..60s"),
		Entry("negative preference wait", "TaskQueue", `preferenceWait: -1s`,
			"spec.preferenceWait", "must be within 0s..60s"),
		Entry("too many priority levels", "TaskQueue", `priority: {levels: 11}`,
			"spec.priority.levels", "less than or equal to 10"),
		Entry("retry max interval below initial", "TaskQueue",
			`taskDefaults: {retryPolicy: {initialInterval: 1m, maximumInterval: 10s}}`,
			"spec.taskDefaults.retryPolicy", "maximumInterval must not be shorter than initialInterval"),
		Entry("backoff coefficient below 1", "TaskQueue",
			`taskDefaults: {retryPolicy: {backoffCoefficient: "0.5"}}`,
			"spec.taskDefaults.retryPolicy", "backoffCoefficient must be at least 1"),
		Entry("negative max attempts", "TaskQueue", `taskDefaults: {retryPolicy: {maximumAttempts: -1}}`,
			"spec.taskDefaults.retryPolicy.maximumAttempts", "greater than or equal to 0"),
		Entry("ramping without current version", "TaskQueue", `versioning: {rampingVersion: v2, rampPercentage: 10}`,
			"spec.versioning", "rampingVersion needs spec.versioning.currentVersion"),
		Entry("ramping equals current", "TaskQueue", `versioning: {currentVersion: v1, rampingVersion: v1, rampPercentage: 10}`,
			"spec", "rampingVersion must differ from spec.versioning.currentVersion"),
		Entry("ramp percentage over 100", "TaskQueue", `versioning: {currentVersion: v1, rampingVersion: v2, rampPercentage: 150}`,
			"spec.versioning.rampPercentage", "less than or equal to 100"),
		Entry("ramp percentage without a ramping version", "TaskQueue", `versioning: {currentVersion: v1, rampPercentage: 5}`,
			"spec.versioning", "rampPercentage needs spec.versioning.rampingVersion"),
		Entry("version with spaces", "TaskQueue", `versioning: {currentVersion: "v 1"}`,
			"spec.versioning.currentVersion", "should match"),
		Entry("sticky mode not in the enum", "TaskQueue", `sticky: {mode: "On"}`,
			"spec.sticky.mode", "Unsupported value"),
		Entry("empty non-retryable error type", "TaskQueue", `taskDefaults: {retryPolicy: {nonRetryableErrorTypes: [""]}}`,
			"spec.taskDefaults.retryPolicy.nonRetryableErrorTypes[0]", "at least 1 chars long"),

		// WorkerPool
		Entry("min replicas above max", "WorkerPool", poolWith(`autoscaling: {minReplicas: 5, maxReplicas: 2}`),
			"spec.autoscaling", "minReplicas must not exceed spec.autoscaling.maxReplicas"),
		Entry("autoscaling without max", "WorkerPool", poolWith(`autoscaling: {minReplicas: 1}`),
			"spec.autoscaling.maxReplicas", "Required value"),
		Entry("too many hosts", "WorkerPool", poolWith(`placement: {hosts: [`+manyHosts(101)+`]}`),
			"spec.placement.hosts", "must have at most 100 items"),
		Entry("capability name not a label key", "WorkerPool", poolWith(`capabilities: [{name: "Bad Key!", value: a100}]`),
			"spec.capabilities[0].name", "capability name must be a label key"),
		Entry("capability value not a label value", "WorkerPool", poolWith(`capabilities: [{name: gpu, value: "a 100"}]`),
			"spec.capabilities[0].value", "should match"),
		Entry("duplicate capability", "WorkerPool", poolWith(`capabilities: [{name: gpu, value: a100}, {name: gpu, value: h100}]`),
			"spec.capabilities[1]", "Duplicate value"),
		Entry("queue name with capitals", "WorkerPool", strings.Replace(minimalPool, "queue: orders", "queue: Orders", 1),
			"spec.queue", "should match"),
		Entry("missing queue", "WorkerPool", strings.Replace(minimalPool, "queue: orders", "", 1),
			"spec.queue", "Required value"),
		Entry("missing template", "WorkerPool", `queue: orders`,
			"spec.template", "Required value"),
		Entry("priority out of range", "WorkerPool", poolWith(`priorities: [11]`),
			"spec.priorities[0]", "less than or equal to 10"),
		Entry("zero slots", "WorkerPool", poolWith(`limits: {slots: 0}`),
			"spec.limits.slots", "greater than or equal to 1"),
		Entry("negative replicas", "WorkerPool", poolWith(`replicas: -1`),
			"spec.replicas", "greater than or equal to 0"),
		Entry("autoscaling mode not in the enum", "WorkerPool", poolWith(`autoscaling: {mode: Auto, maxReplicas: 3}`),
			"spec.autoscaling.mode", "Unsupported value"),
	)
})

var _ = Describe("Valid objects are accepted and defaulted", func() {
	It("defaults an empty TaskQueue like a queue without an object", func() {
		name := uniqueName("tq")
		Expect(k8sClient.Create(ctx, object("TaskQueue", name, `{}`))).To(Succeed())
		var q v1alpha1.TaskQueue
		Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: "default", Name: name}, &q)).To(Succeed())
		Expect(q.Spec.Retention).To(Equal(&metav1.Duration{Duration: 24 * time.Hour}))
		Expect(q.Spec.PreferenceWait).To(Equal(&metav1.Duration{Duration: 500 * time.Millisecond}))
	})

	It("defaults nested TaskQueue settings", func() {
		name := uniqueName("tq")
		spec := `
rateLimit: {tasksPerSecond: "500m"}
priority: {}
sticky: {}
taskDefaults: {retryPolicy: {}}
versioning: {currentVersion: v1, rampingVersion: v2, rampPercentage: 25}
`
		Expect(k8sClient.Create(ctx, object("TaskQueue", name, spec))).To(Succeed())
		var q v1alpha1.TaskQueue
		Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: "default", Name: name}, &q)).To(Succeed())
		Expect(q.Spec.RateLimit.Burst).To(Equal(int32(1)))
		Expect(q.Spec.RateLimit.TasksPerSecond.MilliValue()).To(Equal(int64(500)))
		Expect(q.Spec.Priority.Levels).To(Equal(int32(v1alpha1.DefaultPriorityLevels)))
		Expect(q.Spec.Priority.DefaultLevel).To(Equal(int32(v1alpha1.DefaultPriority)))
		Expect(q.Spec.Sticky.Mode).To(Equal(v1alpha1.FeatureEnabled))
		Expect(q.Spec.Sticky.ScheduleToStartTimeout.Duration).To(Equal(5 * time.Second))
		Expect(q.Spec.TaskDefaults.StartToCloseTimeout.Duration).To(Equal(10 * time.Minute))
		Expect(q.Spec.TaskDefaults.RetryPolicy.InitialInterval.Duration).To(Equal(time.Second))
		Expect(q.Spec.TaskDefaults.RetryPolicy.MaximumInterval.Duration).To(Equal(100 * time.Second))
		Expect(q.Spec.TaskDefaults.RetryPolicy.BackoffCoefficient.String()).To(Equal("2"))
	})

	It("accepts a GPU pool with autoscaling and defaults its limits", func() {
		name := uniqueName("wp")
		spec := poolWith(`
version: v1.2.0
capabilities:
- name: gpu
  value: a100
- name: example.com/arch
  value: arm64
placement: {hosts: [node-a]}
limits: {}
priorities: [4, 5]
autoscaling: {minReplicas: 0, maxReplicas: 4}
`)
		Expect(k8sClient.Create(ctx, object("WorkerPool", name, spec))).To(Succeed())
		var p v1alpha1.WorkerPool
		Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: "default", Name: name}, &p)).To(Succeed())
		Expect(p.Spec.Limits.Slots).To(Equal(int32(10)))
		Expect(p.Spec.Capabilities[0].NodeSelection).To(Equal(v1alpha1.FeatureEnabled))
		Expect(p.Spec.Autoscaling.Mode).To(Equal(v1alpha1.AutoscalingBacklog))
		Expect(*p.Spec.Autoscaling.MinReplicas).To(Equal(int32(0)), "minReplicas 0 (scale to zero) must survive defaulting")
		Expect(p.Spec.Autoscaling.TargetBacklogPerWorker).To(Equal(int32(10)))
	})

	It("rejects an update that breaks a cross-field rule", func() {
		name := uniqueName("tq")
		Expect(k8sClient.Create(ctx, object("TaskQueue", name, `priority: {levels: 5, defaultLevel: 5}`))).To(Succeed())
		var q v1alpha1.TaskQueue
		Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: "default", Name: name}, &q)).To(Succeed())
		q.Spec.Priority.Levels = 2
		err := k8sClient.Update(ctx, &q)
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want Invalid, got %v", err)
		Expect(err.Error()).To(ContainSubstring("defaultLevel must be within"))
	})
})
