package kedascaler

import (
	"os"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	esv1 "github.com/taskroute/taskroute/api/externalscaler/v1alpha1"
)

// TestSampleScaledObjectIsValid: the shipped ScaledObject's trigger metadata passes the
// scaler's own validation (KEDA's CRDs are not installed in tests, so it is not applied).
func TestSampleScaledObjectIsValid(t *testing.T) {
	data, err := os.ReadFile("../../../config/samples/autoscaling/keda-scaledobject.yaml")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, doc := range strings.Split(string(data), "\n---\n") {
		var so struct {
			Kind string
			Spec struct {
				Triggers []struct {
					Type     string
					Metadata map[string]string
				}
			}
		}
		if err := yaml.Unmarshal([]byte(doc), &so); err != nil {
			t.Fatal(err)
		}
		if so.Kind != "ScaledObject" {
			continue
		}
		for _, tr := range so.Spec.Triggers {
			found = true
			if tr.Type != "external-push" && tr.Type != "external" {
				t.Errorf("trigger type %q, want external-push or external", tr.Type)
			}
			if _, err := parseTrigger(&esv1.ScaledObjectRef{Namespace: "media", ScalerMetadata: tr.Metadata}); err != nil {
				t.Errorf("sample trigger: %v", err)
			}
		}
	}
	if !found {
		t.Fatal("no ScaledObject trigger in the sample")
	}
}
