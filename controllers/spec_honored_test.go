package controllers

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/taskroute/taskroute/api/v1alpha1"
)

var _ = Describe("SpecHonored condition", func() {
	It("names the TaskQueue fields that are accepted but not yet honoured, until they are unset", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		q := &v1alpha1.TaskQueue{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "workflows"},
			Spec: v1alpha1.TaskQueueSpec{
				Sticky:     &v1alpha1.StickyConfig{},
				Versioning: &v1alpha1.VersioningConfig{CurrentVersion: "v1", RampingVersion: "v2", RampPercentage: 10},
			},
		}
		Expect(k8sClient.Create(ctx, q)).To(Succeed())
		Eventually(getQueue(ctx, q)).Should(haveQueueCondition(v1alpha1.ConditionSpecHonored, metav1.ConditionFalse, v1alpha1.ReasonNotYetImplemented))
		msg := meta.FindStatusCondition(getQueue(ctx, q)().Status.Conditions, v1alpha1.ConditionSpecHonored).Message
		Expect(msg).To(And(ContainSubstring("spec.sticky"), ContainSubstring("spec.versioning")))

		By("turning sticky off and removing versioning")
		updateSpec(ctx, q, func() { q.Spec.Sticky, q.Spec.Versioning = &v1alpha1.StickyConfig{Mode: v1alpha1.FeatureDisabled}, nil })
		Eventually(getQueue(ctx, q)).Should(haveQueueCondition(v1alpha1.ConditionSpecHonored, metav1.ConditionTrue, v1alpha1.ReasonSpecHonored))
	})

	It("reports a WorkerPool with sessions and backlog autoscaling as honoured", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		pool := newPool(ns, "sessions", "files")
		pool.Spec.Limits = &v1alpha1.WorkerLimits{Sessions: 4}
		pool.Spec.Autoscaling = &v1alpha1.Autoscaling{Mode: v1alpha1.AutoscalingBacklog, MinReplicas: ptr.To[int32](1), MaxReplicas: 5}
		Expect(k8sClient.Create(ctx, pool)).To(Succeed())
		Eventually(getPool(ctx, pool)).Should(haveCondition(v1alpha1.ConditionSpecHonored, metav1.ConditionTrue, v1alpha1.ReasonSpecHonored))
	})
})
