package main

import (
	"os"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/taskroute/taskroute/api/v1alpha1"
)

// TestManifestsUseOnlyExistingFields decodes the README's manifests strictly into the API
// types, so a misspelt or removed field fails here rather than in a user's cluster.
func TestManifestsUseOnlyExistingFields(t *testing.T) {
	for path, obj := range map[string]any{
		"k8s/taskqueue.yaml":  &v1alpha1.TaskQueue{},
		"k8s/workerpool.yaml": &v1alpha1.WorkerPool{},
	} {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.UnmarshalStrict(data, obj); err != nil {
			t.Errorf("%s: %v", path, err)
		}
	}
}
