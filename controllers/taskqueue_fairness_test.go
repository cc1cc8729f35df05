package controllers

import (
	"context"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/taskroute/taskroute/api/v1alpha1"
	"github.com/taskroute/taskroute/internal/queueconfig"
)

var _ = Describe("TaskQueue fairness", func() {
	It("publishes spec.fairness to the registry and follows its changes", func() {
		ctx := context.Background()
		ns := newNamespace(ctx)
		q := &v1alpha1.TaskQueue{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "tenants"},
			Spec: v1alpha1.TaskQueueSpec{Fairness: &v1alpha1.FairnessConfig{
				KeyRateLimit:    &v1alpha1.FairnessKeyRateLimit{TasksPerSecond: resource.MustParse("20")},
				WeightOverrides: map[string]int32{"gold": 5, "silver": 2},
			}},
		}
		Expect(k8sClient.Create(ctx, q)).To(Succeed())
		key := queueconfig.Key{Namespace: ns, Name: "tenants"}
		Eventually(func(g Gomega) {
			cfg, ok := registry.Config(key)
			g.Expect(ok).To(BeTrue())
			g.Expect(cfg.FairnessKeyRateLimit).To(Equal(20.0))
			g.Expect(cfg.FairnessKeyBurst).To(Equal(1), "the CRD's default burst")
			g.Expect(cfg.FairnessWeightOverrides).To(Equal(map[string]int32{"gold": 5, "silver": 2}))
		}).Should(Succeed())

		updateSpec(ctx, q, func() { q.Spec.Fairness.WeightOverrides = map[string]int32{"gold": 9} })
		Eventually(func() map[string]int32 { cfg, _ := registry.Config(key); return cfg.FairnessWeightOverrides }).
			Should(Equal(map[string]int32{"gold": 9}))
	})
})
