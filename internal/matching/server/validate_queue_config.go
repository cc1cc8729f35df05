package server

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/queueconfig"
)

// Bounds of a queue's configuration: the TaskQueue CRD's (api/v1alpha1/taskqueue_types.go).
const (
	maxPriorityLevels     = 10
	maxBurst              = 100000
	maxRateLimit          = 1e9
	maxAttempts           = 10000
	maxNonRetryable       = 32
	maxErrorTypeLength    = 128
	maxBackoffCoefficient = 1000
)

// setter copies one field of a SetQueueConfig request into a configuration, validating
// what can be checked on the field alone (durations).
type setter func(dst *queueconfig.Config, src *matchingv1.QueueConfig) error

// configSetters maps every update_mask path to its setter.
var configSetters = map[string]setter{
	"rate_limit": func(d *queueconfig.Config, s *matchingv1.QueueConfig) error {
		d.RateLimit = s.GetRateLimit()
		return nil
	},
	"burst": func(d *queueconfig.Config, s *matchingv1.QueueConfig) error { d.Burst = int(s.GetBurst()); return nil },
	"priority_levels": func(d *queueconfig.Config, s *matchingv1.QueueConfig) error {
		d.PriorityLevels = int(s.GetPriorityLevels())
		return nil
	},
	"default_priority": func(d *queueconfig.Config, s *matchingv1.QueueConfig) error {
		d.DefaultPriority = int(s.GetDefaultPriority())
		return nil
	},
	"schedule_to_start_timeout": func(d *queueconfig.Config, s *matchingv1.QueueConfig) error {
		return setDuration(&d.ScheduleToStartTimeout, "config.schedule_to_start_timeout", s.GetScheduleToStartTimeout())
	},
	"start_to_close_timeout": func(d *queueconfig.Config, s *matchingv1.QueueConfig) error {
		return setDuration(&d.StartToCloseTimeout, "config.start_to_close_timeout", s.GetStartToCloseTimeout())
	},
	"heartbeat_timeout": func(d *queueconfig.Config, s *matchingv1.QueueConfig) error {
		return setDuration(&d.HeartbeatTimeout, "config.heartbeat_timeout", s.GetHeartbeatTimeout())
	},
	"retention": func(d *queueconfig.Config, s *matchingv1.QueueConfig) error {
		return setDuration(&d.Retention, "config.retention", s.GetRetention())
	},
	"preference_wait": func(d *queueconfig.Config, s *matchingv1.QueueConfig) error {
		return setDuration(&d.PreferenceWait, "config.preference_wait", s.GetPreferenceWait())
	},
	"retry_policy.initial_interval": func(d *queueconfig.Config, s *matchingv1.QueueConfig) error {
		return setDuration(&d.Retry.InitialInterval, "config.retry_policy.initial_interval", s.GetRetryPolicy().GetInitialInterval())
	},
	"retry_policy.maximum_interval": func(d *queueconfig.Config, s *matchingv1.QueueConfig) error {
		return setDuration(&d.Retry.MaximumInterval, "config.retry_policy.maximum_interval", s.GetRetryPolicy().GetMaximumInterval())
	},
	"retry_policy.backoff_coefficient": func(d *queueconfig.Config, s *matchingv1.QueueConfig) error {
		d.Retry.BackoffCoefficient = s.GetRetryPolicy().GetBackoffCoefficient()
		return nil
	},
	"retry_policy.maximum_attempts": func(d *queueconfig.Config, s *matchingv1.QueueConfig) error {
		d.Retry.MaximumAttempts = int(s.GetRetryPolicy().GetMaximumAttempts())
		return nil
	},
	"retry_policy.non_retryable_error_types": func(d *queueconfig.Config, s *matchingv1.QueueConfig) error {
		d.Retry.NonRetryableErrorTypes = append([]string(nil), s.GetRetryPolicy().GetNonRetryableErrorTypes()...)
		return nil
	},
}

// retryPolicyPaths are what the path "retry_policy" stands for.
var retryPolicyPaths = []string{"retry_policy.initial_interval", "retry_policy.backoff_coefficient",
	"retry_policy.maximum_interval", "retry_policy.maximum_attempts", "retry_policy.non_retryable_error_types"}

// maskedSetters returns the setters of the update_mask paths, in the mask's order.
func maskedSetters(paths []string) ([]setter, error) {
	if len(paths) == 0 {
		return nil, invalid("update_mask", "must name at least one field of config to change, e.g. \"rate_limit\"")
	}
	var out []setter
	for i, p := range paths {
		if p == "retry_policy" {
			for _, rp := range retryPolicyPaths {
				out = append(out, configSetters[rp])
			}
			continue
		}
		set, ok := configSetters[p]
		if !ok {
			return nil, invalid(fmt.Sprintf("update_mask.paths[%d]", i), "unknown field %q; want one of %s", p, knownPaths())
		}
		out = append(out, set)
	}
	return out, nil
}

func knownPaths() string {
	names := []string{"retry_policy"}
	for p := range configSetters {
		names = append(names, p)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// setDuration validates d (unset means 0) and stores it in dst.
func setDuration(dst *time.Duration, field string, d *durationpb.Duration) error {
	if err := checkDuration(field, d); err != nil {
		return err
	}
	*dst = d.AsDuration() // 0 for nil
	return nil
}

// checkRateAndBurst validates a token bucket's rate (0 = unlimited) and size, named
// config.<rateName> and config.<burstName>.
func checkRateAndBurst(rateName, burstName string, rate float64, burst int, maxRate float64, maxBurst int) error {
	if math.IsNaN(rate) || rate < 0 || rate > maxRate {
		return invalid("config."+rateName, "must be 0 (unlimited) or a rate up to %g tasks/second, got %v", maxRate, rate)
	}
	if burst < 0 || burst > maxBurst {
		return invalid("config."+burstName, "must be within 0..%d, got %d", maxBurst, burst)
	}
	if rate > 0 && burst < 1 {
		return invalid("config."+burstName, "must be at least 1 when %s is set, got %d", rateName, burst)
	}
	return nil
}

// checkQueueConfig validates a whole configuration, naming the request's field at fault.
func checkQueueConfig(c *queueconfig.Config) error {
	if err := checkRateAndBurst("rate_limit", "burst", c.RateLimit, c.Burst, maxRateLimit, maxBurst); err != nil {
		return err
	}
	if c.PriorityLevels < 1 || c.PriorityLevels > maxPriorityLevels {
		return invalid("config.priority_levels", "must be within 1..%d, got %d", maxPriorityLevels, c.PriorityLevels)
	}
	if c.DefaultPriority < 1 || c.DefaultPriority > c.PriorityLevels {
		return invalid("config.default_priority", "must be within 1..priority_levels (%d), got %d", c.PriorityLevels, c.DefaultPriority)
	}
	if c.PreferenceWait > queueconfig.MaxPreferenceWait {
		return invalid("config.preference_wait", "must be at most %s, got %s", queueconfig.MaxPreferenceWait, c.PreferenceWait)
	}
	if err := checkQueueFairness(c); err != nil {
		return err
	}
	return checkQueueRetry(&c.Retry)
}

func checkQueueRetry(r *queueconfig.RetryPolicy) error {
	if r.MaximumInterval < r.InitialInterval {
		return invalid("config.retry_policy.maximum_interval", "must not be shorter than initial_interval (%s < %s)", r.MaximumInterval, r.InitialInterval)
	}
	if c := r.BackoffCoefficient; !(c >= 1 && c <= maxBackoffCoefficient) {
		return invalid("config.retry_policy.backoff_coefficient", "must be within 1..%d, got %v", maxBackoffCoefficient, c)
	}
	if r.MaximumAttempts < 0 || r.MaximumAttempts > maxAttempts {
		return invalid("config.retry_policy.maximum_attempts", "must be within 0 (unlimited)..%d, got %d", maxAttempts, r.MaximumAttempts)
	}
	if len(r.NonRetryableErrorTypes) > maxNonRetryable {
		return invalid("config.retry_policy.non_retryable_error_types", "must list at most %d types, got %d", maxNonRetryable, len(r.NonRetryableErrorTypes))
	}
	seen := make(map[string]bool, len(r.NonRetryableErrorTypes))
	for i, s := range r.NonRetryableErrorTypes {
		field := fmt.Sprintf("config.retry_policy.non_retryable_error_types[%d]", i)
		if err := checkName(field, s, maxErrorTypeLength, true); err != nil {
			return err
		}
		if seen[s] {
			return invalid(field, "%q is listed twice", s)
		}
		seen[s] = true
	}
	return nil
}
