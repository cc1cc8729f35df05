package controllers

import (
	"context"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/taskroute/taskroute/api/v1alpha1"
)

// An HPA (or KEDA) sizes a pool through /scale. With autoscaling mode Disabled the
// operator follows whatever it writes, even outside minReplicas..maxReplicas, and never
// writes spec.replicas itself, so the two do not fight over the size.
var _ = Describe("WorkerPool under an HPA", func() {
	var ctx context.Context
	var ns string
	BeforeEach(func() {
		ctx = context.Background()
		ns = newNamespace(ctx)
	})

	// scaleTo writes /scale as an HPA does: read, set, update; again on a conflict with the
	// operator's status writes.
	scaleTo := func(pool *v1alpha1.WorkerPool, replicas int32) {
		Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
			scale := &autoscalingv1.Scale{}
			if err := k8sClient.SubResource("scale").Get(ctx, pool, scale); err != nil {
				return err
			}
			scale.Spec.Replicas = replicas
			return k8sClient.SubResource("scale").Update(ctx, pool, client.WithSubResourceBody(scale))
		})).To(Succeed())
	}
	deploymentReplicas := func() (int32, error) {
		d, err := getDeployment(ctx, ns, "hpa")()
		if err != nil {
			return -1, err
		}
		return ptr.Deref(d.Spec.Replicas, -1), nil
	}

	It("accepts the sample HPA", func() {
		data, err := os.ReadFile(filepath.Join("..", "config", "samples", "autoscaling", "hpa.yaml"))
		Expect(err).NotTo(HaveOccurred())
		hpa := &autoscalingv2.HorizontalPodAutoscaler{}
		Expect(yaml.UnmarshalStrict(data, hpa)).To(Succeed())
		Expect(hpa.Spec.ScaleTargetRef.Kind).To(Equal("WorkerPool"))
		hpa.Namespace = ns
		Expect(k8sClient.Create(ctx, hpa)).To(Succeed())
	})

	for _, mode := range []string{"Disabled", "unset"} {
		It("follows /scale and leaves spec.replicas to the scaler with autoscaling "+mode, func() {
			pool := newPool(ns, "hpa", "hpa")
			pool.Spec.Replicas = ptr.To[int32](2)
			if mode == "Disabled" {
				pool.Spec.Autoscaling = &v1alpha1.Autoscaling{Mode: v1alpha1.AutoscalingDisabled, MinReplicas: ptr.To[int32](2), MaxReplicas: 4}
			}
			Expect(k8sClient.Create(ctx, pool)).To(Succeed())
			Eventually(deploymentReplicas).Should(BeEquivalentTo(2))

			for _, replicas := range []int32{7, 0, 3} { // above max, zero, inside the bounds
				scaleTo(pool, replicas)
				Eventually(deploymentReplicas).Should(BeEquivalentTo(replicas))
				Consistently(getPool(ctx, pool), 500*time.Millisecond, 50*time.Millisecond).
					Should(HaveField("Spec.Replicas", HaveValue(BeEquivalentTo(replicas))))
			}
			for _, f := range getPool(ctx, pool)().ManagedFields {
				if f.Manager == "taskroute" && f.Subresource == "" {
					Expect(string(f.FieldsV1.Raw)).NotTo(ContainSubstring(`"f:replicas"`), "the operator owns spec.replicas")
				}
			}
		})
	}
})
