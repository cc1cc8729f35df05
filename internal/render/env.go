package render

import (
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"

	"github.com/taskroute/taskroute/api/v1alpha1"
	"github.com/taskroute/taskroute/pkg/workerenv"
)

// DefaultSlots is the slots of a pool without spec.limits, equal to the CRD default of
// spec.limits.slots.
const DefaultSlots = 10

// workerEnv is the worker contract (pkg/workerenv) of pool, in a fixed order.
func workerEnv(pool *v1alpha1.WorkerPool, opts Options) []corev1.EnvVar {
	slots, sessions, rate := int32(DefaultSlots), int32(0), ""
	if l := pool.Spec.Limits; l != nil {
		if l.Slots > 0 {
			slots = l.Slots
		}
		sessions = l.Sessions
		if l.TasksPerSecond != nil {
			rate = strconv.FormatFloat(l.TasksPerSecond.AsApproximateFloat64(), 'f', -1, 64)
		}
	}
	caps := make(map[string]string, len(pool.Spec.Capabilities))
	for _, c := range pool.Spec.Capabilities {
		caps[c.Name] = c.Value
	}
	priorities := slices.Clone(pool.Spec.Priorities)
	slices.Sort(priorities)

	return append([]corev1.EnvVar{
		{Name: workerenv.Address, Value: opts.MatchingAddress},
		{Name: workerenv.Namespace, Value: pool.Namespace},
		{Name: workerenv.Queue, Value: pool.Spec.Queue},
		{Name: workerenv.Pool, Value: pool.Name},
		{Name: workerenv.Version, Value: pool.Spec.Version},
		{Name: workerenv.Capabilities, Value: workerenv.FormatCapabilities(caps)},
		{Name: workerenv.Slots, Value: strconv.Itoa(int(slots))},
		{Name: workerenv.TasksPerSecond, Value: rate},
		{Name: workerenv.Sessions, Value: strconv.Itoa(int(sessions))},
		{Name: workerenv.Priorities, Value: workerenv.FormatPriorities(priorities)},
		{Name: workerenv.WorkerID, ValueFrom: fieldRef("metadata.name")},
		{Name: workerenv.NodeName, ValueFrom: fieldRef("spec.nodeName")},
	}, credentialsEnv(opts)...)
}

func fieldRef(path string) *corev1.EnvVarSource {
	return &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: path}}
}

// withContractEnv puts the contract first, so the user's variables can refer to it with
// $(TASKROUTE_...), and drops each contract variable the user sets: the user's value wins.
func withContractEnv(user, contract []corev1.EnvVar) []corev1.EnvVar {
	out := make([]corev1.EnvVar, 0, len(user)+len(contract))
	for _, c := range contract {
		if !slices.ContainsFunc(user, func(u corev1.EnvVar) bool { return u.Name == c.Name }) {
			out = append(out, c)
		}
	}
	return append(out, user...)
}
