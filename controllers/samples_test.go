package controllers

import (
	"os"
	"path/filepath"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/taskroute/taskroute/api/v1alpha1"
)

// TestSamplesSetOnlyHonouredFields: the shipped samples show only what works, so none of
// them sets a field that SpecHonored would report as not yet honoured.
func TestSamplesSetOnlyHonouredFields(t *testing.T) {
	dir := filepath.Join("..", "config", "samples")
	var kustomization struct {
		Resources []string `json:"resources"`
	}
	readSample(t, filepath.Join(dir, "kustomization.yaml"), &kustomization)
	if len(kustomization.Resources) == 0 {
		t.Fatal("config/samples/kustomization.yaml lists no resources")
	}
	for _, f := range kustomization.Resources {
		var head struct {
			Kind string `json:"kind"`
		}
		path := filepath.Join(dir, f)
		readSample(t, path, &head)
		var fields []string
		switch head.Kind {
		case "TaskQueue":
			var q v1alpha1.TaskQueue
			readSample(t, path, &q)
			fields = unhonouredQueueFields(&q.Spec)
		case "WorkerPool":
			var p v1alpha1.WorkerPool
			readSample(t, path, &p)
			fields = unhonouredPoolFields(&p.Spec)
		default:
			t.Errorf("%s: unexpected kind %q", f, head.Kind)
		}
		if len(fields) > 0 {
			t.Errorf("sample %s sets fields that are not yet honoured: %v", f, fields)
		}
	}
}

func readSample(t *testing.T, path string, into any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
