package controllers

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/taskroute/taskroute/api/v1alpha1"
	"github.com/taskroute/taskroute/internal/queueconfig"
)

func dur(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }

func qty(s string) *resource.Quantity { return ptr.To(resource.MustParse(s)) }

// crdDefaulted is an empty spec as the API server stores it after applying the CRD's
// defaults to every object the user opened: it must translate to Default().
var crdDefaulted = v1alpha1.TaskQueueSpec{
	Priority: &v1alpha1.PriorityConfig{Levels: 5, DefaultLevel: 3},
	TaskDefaults: &v1alpha1.TaskDefaults{
		StartToCloseTimeout: dur(10 * time.Minute),
		RetryPolicy: &v1alpha1.RetryPolicy{
			InitialInterval: dur(time.Second), BackoffCoefficient: qty("2"), MaximumInterval: dur(100 * time.Second),
		},
	},
	Sticky:         &v1alpha1.StickyConfig{Mode: v1alpha1.FeatureEnabled, ScheduleToStartTimeout: dur(5 * time.Second)},
	Retention:      dur(24 * time.Hour),
	PreferenceWait: dur(500 * time.Millisecond),
}

func TestQueueConfigFromSpecDefaults(t *testing.T) {
	for name, spec := range map[string]v1alpha1.TaskQueueSpec{
		"empty":        {},
		"crdDefaulted": crdDefaulted,
		"emptyObjects": {Priority: &v1alpha1.PriorityConfig{}, TaskDefaults: &v1alpha1.TaskDefaults{RetryPolicy: &v1alpha1.RetryPolicy{}}, Sticky: &v1alpha1.StickyConfig{}},
	} {
		got, err := queueConfigFromSpec(&spec)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, queueconfig.Default()) {
			t.Errorf("%s: queueConfigFromSpec = %+v, want queueconfig.Default() %+v", name, got, queueconfig.Default())
		}
	}
}

func TestQueueConfigFromSpecTranslates(t *testing.T) {
	spec := v1alpha1.TaskQueueSpec{
		RateLimit: &v1alpha1.QueueRateLimit{TasksPerSecond: resource.MustParse("500m"), Burst: 4},
		Priority:  &v1alpha1.PriorityConfig{Levels: 3, DefaultLevel: 1},
		TaskDefaults: &v1alpha1.TaskDefaults{
			ScheduleToStartTimeout: dur(time.Minute), StartToCloseTimeout: dur(30 * time.Second), HeartbeatTimeout: dur(5 * time.Second),
			RetryPolicy: &v1alpha1.RetryPolicy{BackoffCoefficient: qty("1.5"), MaximumAttempts: 7, NonRetryableErrorTypes: []string{"Fatal"}},
		},
		Sticky:     &v1alpha1.StickyConfig{Mode: v1alpha1.FeatureDisabled},
		Versioning: &v1alpha1.VersioningConfig{CurrentVersion: "v1", RampingVersion: "v2", RampPercentage: 10},
		Fairness: &v1alpha1.FairnessConfig{
			KeyRateLimit:    &v1alpha1.FairnessKeyRateLimit{TasksPerSecond: resource.MustParse("20"), Burst: 5},
			WeightOverrides: map[string]int32{"gold": 5},
		},
		Retention:      dur(time.Hour),
		PreferenceWait: dur(2 * time.Second),
	}
	got, err := queueConfigFromSpec(&spec)
	if err != nil {
		t.Fatal(err)
	}
	want := queueconfig.Config{
		RateLimit: 0.5, Burst: 4, PriorityLevels: 3, DefaultPriority: 1,
		ScheduleToStartTimeout: time.Minute, StartToCloseTimeout: 30 * time.Second, HeartbeatTimeout: 5 * time.Second,
		Retry: queueconfig.RetryPolicy{
			InitialInterval: time.Second, BackoffCoefficient: 1.5, MaximumInterval: 100 * time.Second,
			MaximumAttempts: 7, NonRetryableErrorTypes: []string{"Fatal"},
		},
		StickyEnabled: false, StickyScheduleToStartTimeout: 5 * time.Second,
		CurrentVersion: "v1", RampingVersion: "v2", RampPercentage: 10,
		FairnessKeyRateLimit: 20, FairnessKeyBurst: 5, FairnessWeightOverrides: map[string]int32{"gold": 5},
		Retention: time.Hour, PreferenceWait: 2 * time.Second,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("FromSpec =\n%+v\nwant\n%+v", got, want)
	}
	// A rate without a burst gets the CRD's default burst of 1.
	got, _ = queueConfigFromSpec(&v1alpha1.TaskQueueSpec{RateLimit: &v1alpha1.QueueRateLimit{TasksPerSecond: resource.MustParse("10")}})
	if got.RateLimit != 10 || got.Burst != 1 {
		t.Errorf("rate/burst = %v/%d, want 10/1", got.RateLimit, got.Burst)
	}
}

func TestQueueConfigFromSpecRejects(t *testing.T) {
	for field, spec := range map[string]v1alpha1.TaskQueueSpec{
		"spec.rateLimit.tasksPerSecond":                    {RateLimit: &v1alpha1.QueueRateLimit{TasksPerSecond: resource.MustParse("0")}},
		"spec.rateLimit.burst":                             {RateLimit: &v1alpha1.QueueRateLimit{TasksPerSecond: resource.MustParse("1"), Burst: -1}},
		"spec.priority.levels":                             {Priority: &v1alpha1.PriorityConfig{Levels: 11, DefaultLevel: 1}},
		"spec.priority.defaultLevel":                       {Priority: &v1alpha1.PriorityConfig{Levels: 2}},
		"spec.taskDefaults.heartbeatTimeout":               {TaskDefaults: &v1alpha1.TaskDefaults{HeartbeatTimeout: dur(-time.Second)}},
		"spec.taskDefaults.retryPolicy.maximumInterval":    {TaskDefaults: &v1alpha1.TaskDefaults{RetryPolicy: &v1alpha1.RetryPolicy{MaximumInterval: dur(time.Millisecond)}}},
		"spec.taskDefaults.retryPolicy.backoffCoefficient": {TaskDefaults: &v1alpha1.TaskDefaults{RetryPolicy: &v1alpha1.RetryPolicy{BackoffCoefficient: qty("0.5")}}},
		"spec.versioning.rampingVersion":                   {Versioning: &v1alpha1.VersioningConfig{RampingVersion: "v2"}},
		"spec.retention":                                   {Retention: dur(-time.Hour)},
		"spec.preferenceWait":                              {PreferenceWait: dur(61 * time.Second)},
		"spec.fairness.keyRateLimit.tasksPerSecond":        {Fairness: &v1alpha1.FairnessConfig{KeyRateLimit: &v1alpha1.FairnessKeyRateLimit{TasksPerSecond: resource.MustParse("0")}}},
		`spec.fairness.weightOverrides["gold"]`:            {Fairness: &v1alpha1.FairnessConfig{WeightOverrides: map[string]int32{"gold": 0}}},
	} {
		_, err := queueConfigFromSpec(&spec)
		if err == nil || !strings.HasPrefix(err.Error(), field+":") {
			t.Errorf("%s: err = %v, want an error naming the field", field, err)
		}
	}
}
