package localcluster

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestResolveEnvTakesLiteralsAndDownwardAPIFieldsFromThePod(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "w-7d9c6-x2kfp", UID: "uid-1"},
		Spec:       corev1.PodSpec{NodeName: "kwok-node-cpu-1"},
	}
	field := func(path string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}
	}
	got, err := resolveEnv(pod, []corev1.EnvVar{
		{Name: "TASKROUTE_QUEUE", Value: "jobs"},
		{Name: "TASKROUTE_TASKS_PER_SECOND", Value: ""},
		{Name: "TASKROUTE_WORKER_ID", ValueFrom: field("metadata.name")},
		{Name: "TASKROUTE_NODE_NAME", ValueFrom: field("spec.nodeName")},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"TASKROUTE_QUEUE=jobs", "TASKROUTE_TASKS_PER_SECOND=", "TASKROUTE_WORKER_ID=w-7d9c6-x2kfp", "TASKROUTE_NODE_NAME=kwok-node-cpu-1"}
	if !slices.Equal(got, want) {
		t.Errorf("resolveEnv = %q, want %q", got, want)
	}

	for _, bad := range []corev1.EnvVar{
		{Name: "X", ValueFrom: field("metadata.labels['a']")},
		{Name: "Y", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{Key: "k"}}},
	} {
		_, err := resolveEnv(pod, []corev1.EnvVar{bad})
		if err == nil || !strings.Contains(err.Error(), "env "+bad.Name) {
			t.Errorf("resolveEnv(%s) error = %v, want one naming the variable", bad.Name, err)
		}
	}
}
