package controllers

import (
	"context"
	"sort"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/taskroute/taskroute/api/v1alpha1"
	"github.com/taskroute/taskroute/internal/queueconfig"
)

// namespaceSeries gathers controller-runtime's registry (what the manager's /metrics
// serves) and returns the value of each series of the named metric in namespace ns, keyed
// by its other labels ("pool=a,queue=b").
func namespaceSeries(name, ns string) map[string]float64 {
	families, err := ctrlmetrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if labels, ok := labelsOutside(m, ns); ok {
				out[labels] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
			}
		}
	}
	return out
}

// labelsOutside joins m's labels other than namespace, if its namespace is ns.
func labelsOutside(m *dto.Metric, ns string) (string, bool) {
	var parts []string
	inNs := false
	for _, l := range m.GetLabel() {
		if l.GetName() == "namespace" {
			inNs = l.GetValue() == ns
			continue
		}
		parts = append(parts, l.GetName()+"="+l.GetValue())
	}
	sort.Strings(parts)
	return strings.Join(parts, ","), inNs
}

var _ = Describe("Autoscaler metrics", func() {
	ctx := context.Background()

	It("exports desired and recommended replicas and counts size changes, and drops a pool's series when it leaves mode Backlog, changes queue or is deleted", func() {
		ns := newNamespace(ctx)
		pool := autoscaledPool(ns, "m", "mq", 1, 0, 0)
		key := queueconfig.Key{Namespace: ns, Name: "mq"}
		series := func(name string) func() map[string]float64 {
			return func() map[string]float64 { return namespaceSeries(name, ns) }
		}
		const gaugeLabels = "pool=m,queue=mq"

		By("a backlog that asks for 3 workers")
		registry.SetStats(key, queueconfig.Stats{Backlog: []queueconfig.Backlog{{Kind: queueconfig.KindActivity, Priority: 3, Count: 25, Routable: true}}})
		Expect(k8sClient.Create(ctx, pool)).To(Succeed())
		Eventually(series("taskroute_autoscaler_desired_replicas")).Should(Equal(map[string]float64{gaugeLabels: 3}))
		Expect(series("taskroute_autoscaler_recommended_replicas")()).To(Equal(map[string]float64{gaugeLabels: 3}))
		Expect(series("taskroute_autoscaler_ready_replicas")()).To(HaveKey(gaugeLabels))
		Expect(series("taskroute_autoscaler_scaling_decisions_total")()).To(Equal(map[string]float64{
			"direction=up,pool=m,reason=" + v1alpha1.ReasonBacklogAboveTarget: 1}))

		By("the queue drained: the pool shrinks to zero at once (no scale-down delay)")
		registry.SetStats(key, queueconfig.Stats{})
		registry.BacklogWatch().Notify(queueconfig.Wake{Key: key})
		Eventually(series("taskroute_autoscaler_desired_replicas")).Should(Equal(map[string]float64{gaugeLabels: 0}))
		Expect(series("taskroute_autoscaler_recommended_replicas")()).To(Equal(map[string]float64{gaugeLabels: 0}))
		Expect(series("taskroute_autoscaler_scaling_decisions_total")()).To(Equal(map[string]float64{
			"direction=up,pool=m,reason=" + v1alpha1.ReasonBacklogAboveTarget:   1,
			"direction=down,pool=m,reason=" + v1alpha1.ReasonBacklogBelowTarget: 1}))

		By("mode Disabled: the pool's series are gone")
		updateSpec(ctx, pool, func() { pool.Spec.Autoscaling.Mode = v1alpha1.AutoscalingDisabled })
		for _, name := range []string{"taskroute_autoscaler_desired_replicas", "taskroute_autoscaler_recommended_replicas",
			"taskroute_autoscaler_ready_replicas", "taskroute_autoscaler_scaling_decisions_total"} {
			Eventually(series(name)).Should(BeEmpty(), name)
		}

		By("mode Backlog again, then the pool deleted: its series are gone")
		updateSpec(ctx, pool, func() { pool.Spec.Autoscaling.Mode = v1alpha1.AutoscalingBacklog })
		Eventually(series("taskroute_autoscaler_desired_replicas")).Should(HaveKey(gaugeLabels))

		By("moved to another queue: the old queue's series are gone")
		updateSpec(ctx, pool, func() { pool.Spec.Queue = "other" })
		Eventually(series("taskroute_autoscaler_desired_replicas")).Should(Equal(map[string]float64{"pool=m,queue=other": 0}))
		Expect(series("taskroute_autoscaler_ready_replicas")()).To(ConsistOf(BeNumerically("==", 0)))

		Expect(k8sClient.Delete(ctx, pool)).To(Succeed())
		Eventually(series("taskroute_autoscaler_desired_replicas")).WithTimeout(10 * time.Second).Should(BeEmpty())
		Expect(series("taskroute_autoscaler_recommended_replicas")()).To(BeEmpty())
	})
})
