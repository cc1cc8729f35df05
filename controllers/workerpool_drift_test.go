package controllers

import (
	"context"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/taskroute/taskroute/pkg/workerenv"
)

// Drift repair is server-side apply: what the "taskroute" field manager applied comes
// back, and what another manager added, and taskroute never applied, stays
// (docs/reconcilers.md, "Drift").
var _ = Describe("WorkerPool drift repair", func() {
	It("restores the fields it applies and keeps an env var another manager added", func() {
		ctx := context.Background()
		ns := newNamespace(ctx)
		pool := newPool(ns, "drift", "drift-q")
		Expect(k8sClient.Create(ctx, pool)).To(Succeed())
		Eventually(getPool(ctx, pool)).Should(HaveField("Status.ObservedGeneration", pool.Generation))
		d, err := getDeployment(ctx, ns, "drift")()
		Expect(err).NotTo(HaveOccurred())

		By("another manager overwriting TASKROUTE_QUEUE and adding DEBUG")
		patch := `{"spec":{"template":{"spec":{"containers":[{"name":"worker","env":[` +
			`{"name":"` + workerenv.Queue + `","value":"hijacked"},{"name":"DEBUG","value":"1"}]}]}}}}`
		Expect(k8sClient.Patch(ctx, d, client.RawPatch(types.StrategicMergePatchType, []byte(patch)), client.FieldOwner("someone"))).To(Succeed())

		By("the re-apply restoring TASKROUTE_QUEUE while DEBUG stays")
		Eventually(func(g Gomega) {
			d, err := getDeployment(ctx, ns, "drift")()
			g.Expect(err).NotTo(HaveOccurred())
			env := envOf(d.Spec.Template.Spec.Containers[0])
			g.Expect(env[workerenv.Queue].Value).To(Equal("drift-q"), "an applied field is repaired")
			g.Expect(env).To(HaveKeyWithValue("DEBUG", HaveField("Value", "1")), "a field only another manager set is kept")
			g.Expect(ownedBy(d.ManagedFields, "someone")).To(ContainSubstring(`k:{\"name\":\"DEBUG\"}`), "DEBUG stays someone's field")
		}).Should(Succeed())
	})
})

// ownedBy is the managed-fields JSON of manager (empty when it owns nothing).
func ownedBy(entries []metav1.ManagedFieldsEntry, manager string) string {
	var b strings.Builder
	for _, e := range entries {
		if e.Manager == manager && e.FieldsV1 != nil {
			b.Write(e.FieldsV1.Raw)
		}
	}
	return b.String()
}
