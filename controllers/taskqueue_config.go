package controllers

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/taskroute/taskroute/api/v1alpha1"
	"github.com/taskroute/taskroute/internal/queueconfig"
)

// queueConfigFromSpec translates a TaskQueue spec into the Config the matching service applies. Unset
// fields get the CRD's defaults (the same values as Default()), so a spec that the API
// server defaulted and one built in Go without defaults translate alike. The API server's
// validation already rejects most bad input; it checks again, naming the field,
// because Go callers and older stored objects do not pass through it.
func queueConfigFromSpec(spec *v1alpha1.TaskQueueSpec) (queueconfig.Config, error) {
	cfg := queueconfig.Default()
	if err := rateLimitFromSpec(spec.RateLimit, &cfg); err != nil {
		return queueconfig.Config{}, err
	}
	if err := priorityFromSpec(spec.Priority, &cfg); err != nil {
		return queueconfig.Config{}, err
	}
	if err := taskDefaultsFromSpec(spec.TaskDefaults, &cfg); err != nil {
		return queueconfig.Config{}, err
	}
	if err := stickyFromSpec(spec.Sticky, &cfg); err != nil {
		return queueconfig.Config{}, err
	}
	if err := versioningFromSpec(spec.Versioning, &cfg); err != nil {
		return queueconfig.Config{}, err
	}
	if err := fairnessFromSpec(spec.Fairness, &cfg); err != nil {
		return queueconfig.Config{}, err
	}
	if err := durationsFromSpec(spec, &cfg); err != nil {
		return queueconfig.Config{}, err
	}
	return cfg, nil
}

func rateLimitFromSpec(rl *v1alpha1.QueueRateLimit, cfg *queueconfig.Config) error {
	if rl == nil {
		return nil
	}
	cfg.RateLimit = rl.TasksPerSecond.AsApproximateFloat64()
	if cfg.RateLimit <= 0 {
		return fmt.Errorf("spec.rateLimit.tasksPerSecond: must be greater than 0, got %s", rl.TasksPerSecond.String())
	}
	cfg.Burst = int(rl.Burst)
	if cfg.Burst == 0 {
		cfg.Burst = 1
	}
	if cfg.Burst < 0 {
		return fmt.Errorf("spec.rateLimit.burst: must be at least 1, got %d", rl.Burst)
	}
	return nil
}

func priorityFromSpec(p *v1alpha1.PriorityConfig, cfg *queueconfig.Config) error {
	if p == nil {
		return nil
	}
	if p.Levels != 0 {
		cfg.PriorityLevels = int(p.Levels)
	}
	if p.DefaultLevel != 0 {
		cfg.DefaultPriority = int(p.DefaultLevel)
	}
	if cfg.PriorityLevels < 1 || cfg.PriorityLevels > v1alpha1.MaxPriorityLevels {
		return fmt.Errorf("spec.priority.levels: must be within 1..%d, got %d", v1alpha1.MaxPriorityLevels, cfg.PriorityLevels)
	}
	if cfg.DefaultPriority < 1 || cfg.DefaultPriority > cfg.PriorityLevels {
		return fmt.Errorf("spec.priority.defaultLevel: must be within 1..%d, got %d", cfg.PriorityLevels, cfg.DefaultPriority)
	}
	return nil
}

func taskDefaultsFromSpec(td *v1alpha1.TaskDefaults, cfg *queueconfig.Config) error {
	if td == nil {
		return nil
	}
	var err error
	if cfg.ScheduleToStartTimeout, err = duration("spec.taskDefaults.scheduleToStartTimeout", td.ScheduleToStartTimeout, 0); err != nil {
		return err
	}
	if cfg.StartToCloseTimeout, err = duration("spec.taskDefaults.startToCloseTimeout", td.StartToCloseTimeout, cfg.StartToCloseTimeout); err != nil {
		return err
	}
	if cfg.HeartbeatTimeout, err = duration("spec.taskDefaults.heartbeatTimeout", td.HeartbeatTimeout, 0); err != nil {
		return err
	}
	cfg.Retry, err = retryPolicy(td.RetryPolicy, cfg.Retry)
	return err
}

func stickyFromSpec(s *v1alpha1.StickyConfig, cfg *queueconfig.Config) error {
	if s == nil {
		return nil
	}
	cfg.StickyEnabled = s.Mode != v1alpha1.FeatureDisabled
	var err error
	cfg.StickyScheduleToStartTimeout, err = duration("spec.sticky.scheduleToStartTimeout", s.ScheduleToStartTimeout, cfg.StickyScheduleToStartTimeout)
	return err
}

func versioningFromSpec(v *v1alpha1.VersioningConfig, cfg *queueconfig.Config) error {
	if v == nil {
		return nil
	}
	cfg.CurrentVersion, cfg.RampingVersion, cfg.RampPercentage = v.CurrentVersion, v.RampingVersion, int(v.RampPercentage)
	switch {
	case cfg.RampPercentage < 0 || cfg.RampPercentage > 100:
		return fmt.Errorf("spec.versioning.rampPercentage: must be within 0..100, got %d", cfg.RampPercentage)
	case cfg.RampingVersion != "" && cfg.CurrentVersion == "":
		return fmt.Errorf("spec.versioning.rampingVersion: needs spec.versioning.currentVersion")
	case cfg.RampingVersion != "" && cfg.RampingVersion == cfg.CurrentVersion:
		return fmt.Errorf("spec.versioning.rampingVersion: must differ from currentVersion %q", cfg.CurrentVersion)
	}
	return nil
}

// durationsFromSpec reads the queue-wide durations: retention and the preference wait.
func durationsFromSpec(spec *v1alpha1.TaskQueueSpec, cfg *queueconfig.Config) error {
	var err error
	if cfg.Retention, err = duration("spec.retention", spec.Retention, cfg.Retention); err != nil {
		return err
	}
	if cfg.PreferenceWait, err = duration("spec.preferenceWait", spec.PreferenceWait, cfg.PreferenceWait); err != nil {
		return err
	}
	if cfg.PreferenceWait > queueconfig.MaxPreferenceWait {
		return fmt.Errorf("spec.preferenceWait: must be at most %s, got %s", queueconfig.MaxPreferenceWait, cfg.PreferenceWait)
	}
	return nil
}

func retryPolicy(rp *v1alpha1.RetryPolicy, def queueconfig.RetryPolicy) (queueconfig.RetryPolicy, error) {
	if rp == nil {
		return def, nil
	}
	out := def
	var err error
	if out.InitialInterval, err = duration("spec.taskDefaults.retryPolicy.initialInterval", rp.InitialInterval, def.InitialInterval); err != nil {
		return queueconfig.RetryPolicy{}, err
	}
	if out.MaximumInterval, err = duration("spec.taskDefaults.retryPolicy.maximumInterval", rp.MaximumInterval, def.MaximumInterval); err != nil {
		return queueconfig.RetryPolicy{}, err
	}
	if out.MaximumInterval < out.InitialInterval {
		return queueconfig.RetryPolicy{}, fmt.Errorf("spec.taskDefaults.retryPolicy.maximumInterval: must not be shorter than initialInterval (%s < %s)", out.MaximumInterval, out.InitialInterval)
	}
	if rp.BackoffCoefficient != nil {
		out.BackoffCoefficient = rp.BackoffCoefficient.AsApproximateFloat64()
		if out.BackoffCoefficient < 1 {
			return queueconfig.RetryPolicy{}, fmt.Errorf("spec.taskDefaults.retryPolicy.backoffCoefficient: must be at least 1, got %s", rp.BackoffCoefficient.String())
		}
	}
	out.MaximumAttempts = int(rp.MaximumAttempts)
	if out.MaximumAttempts < 0 {
		return queueconfig.RetryPolicy{}, fmt.Errorf("spec.taskDefaults.retryPolicy.maximumAttempts: must not be negative, got %d", rp.MaximumAttempts)
	}
	out.NonRetryableErrorTypes = append([]string(nil), rp.NonRetryableErrorTypes...)
	return out, nil
}

// duration returns d, or def when d is unset; a negative duration is an error naming field.
func duration(field string, d *metav1.Duration, def time.Duration) (time.Duration, error) {
	if d == nil {
		return def, nil
	}
	if d.Duration < 0 {
		return 0, fmt.Errorf("%s: must not be negative, got %s", field, d.Duration)
	}
	return d.Duration, nil
}
