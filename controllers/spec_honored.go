package controllers

import (
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/taskroute/taskroute/api/v1alpha1"
)

// Fields the API accepts but taskroute does not honour yet. Their doc comments say so (for
// kubectl explain); the SpecHonored condition tells the user who set one anyway. Remove an
// entry together with its "Not yet honoured" comment when the feature lands.

// unhonouredQueueFields lists the set TaskQueue fields that have no effect yet, each with
// what actually happens.
func unhonouredQueueFields(spec *v1alpha1.TaskQueueSpec) []string {
	var fields []string
	if s := spec.Sticky; s != nil && s.Mode != v1alpha1.FeatureDisabled {
		fields = append(fields, "spec.sticky (no sticky execution: workflow tasks go to any worker)")
	}
	if v := spec.Versioning; v != nil && (v.CurrentVersion != "" || v.RampingVersion != "") {
		fields = append(fields, "spec.versioning (no routing by version: any worker takes any task)")
	}
	return fields
}

// unhonouredPoolFields lists the set WorkerPool fields that have no effect yet, each with
// what actually happens. Every WorkerPool field takes effect today; the list stays for the
// fields versioning will add.
func unhonouredPoolFields(*v1alpha1.WorkerPoolSpec) []string {
	return nil
}

// setSpecHonored sets the SpecHonored condition from the unhonoured fields the spec sets.
func setSpecHonored(conds *[]metav1.Condition, generation int64, fields []string) {
	c := metav1.Condition{Type: v1alpha1.ConditionSpecHonored, ObservedGeneration: generation,
		Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonSpecHonored, Message: "Every field set in the spec takes effect"}
	if len(fields) > 0 {
		c.Status, c.Reason = metav1.ConditionFalse, v1alpha1.ReasonNotYetImplemented
		c.Message = truncate("Accepted but not yet honoured: "+strings.Join(fields, "; "), maxMessage)
	}
	meta.SetStatusCondition(conds, c)
}
