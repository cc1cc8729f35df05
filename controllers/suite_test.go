package controllers

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/taskroute/taskroute/internal/queueconfig"
	"github.com/taskroute/taskroute/internal/render"
	"github.com/taskroute/taskroute/internal/testutil"
)

const (
	testMatchingAddress = "taskroute-matching.test.svc:7233"
	// suiteRefreshInterval is long on purpose: the suite must see pools re-queued by
	// watches (a TaskQueue appearing), not by the periodic statistics refresh.
	suiteRefreshInterval = time.Hour
)

var (
	testEnv   *envtest.Environment
	cfg       *rest.Config
	k8sClient client.Client
	registry  *queueconfig.Memory
	cancelMgr context.CancelFunc
	mgrDone   chan struct{}
)

func TestControllers(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Controllers Suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	SetDefaultEventuallyTimeout(20 * time.Second)
	SetDefaultEventuallyPollingInterval(100 * time.Millisecond)

	var err error
	testEnv, err = testutil.NewEnvironment()
	Expect(err).NotTo(HaveOccurred())
	cfg, err = testutil.Start(testEnv)
	Expect(err).NotTo(HaveOccurred())

	k8sClient, err = client.New(cfg, client.Options{Scheme: testutil.Scheme()})
	Expect(err).NotTo(HaveOccurred())

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 testutil.Scheme(),
		Cache:                  CacheOptions(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	Expect(err).NotTo(HaveOccurred())
	registry = queueconfig.NewMemory()
	Expect(Setup(mgr, Options{
		Registry:                registry,
		Render:                  render.Options{MatchingAddress: testMatchingAddress},
		StatsRefreshInterval:    suiteRefreshInterval,
		MaxConcurrentReconciles: 2,
	})).To(Succeed())

	var ctx context.Context
	ctx, cancelMgr = context.WithCancel(context.Background())
	mgrDone = make(chan struct{})
	go func() {
		defer GinkgoRecover()
		defer close(mgrDone)
		Expect(mgr.Start(ctx)).To(Succeed())
	}()
})

var _ = AfterSuite(func() {
	if cancelMgr != nil {
		cancelMgr()
		Eventually(mgrDone).Should(BeClosed())
	}
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

// newNamespace creates a namespace of its own for one test, so tests do not see each
// other's objects (envtest has no namespace controller, so it is never emptied).
func newNamespace(ctx context.Context) string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "tr-"}}
	Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	return ns.Name
}

// reconcileCount is how many reconciles the named controller finished, from
// controller-runtime's own metric.
func reconcileCount(controller string) float64 {
	mfs, err := ctrlmetrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	var n float64
	for _, mf := range mfs {
		if mf.GetName() != "controller_runtime_reconcile_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "controller" && l.GetValue() == controller {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}

// touch changes an annotation, which the reconcilers' predicates let through: a way to
// force one reconcile of an unchanged object.
func touch(ctx context.Context, obj client.Object) {
	patch := client.MergeFrom(obj.DeepCopyObject().(client.Object))
	ann := obj.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann["test.taskroute.dev/touched"] = time.Now().Format(time.RFC3339Nano)
	obj.SetAnnotations(ann)
	Expect(k8sClient.Patch(ctx, obj, patch)).To(Succeed())
}

// updateSpec reads obj, applies change and updates it, again on a conflict: the
// reconcilers write the objects too (finalizers), so a plain Get+Update can race them.
func updateSpec[T client.Object](ctx context.Context, obj T, change func()) {
	GinkgoHelper()
	Eventually(func() error {
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		change()
		return k8sClient.Update(ctx, obj)
	}).Should(Succeed())
}
