package certs

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/taskroute/taskroute/api/v1alpha1"
	"github.com/taskroute/taskroute/internal/testutil"
)

func workerPool(ns, name string) *v1alpha1.WorkerPool {
	return &v1alpha1.WorkerPool{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.WorkerPoolSpec{
			Queue: "q",
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "worker", Image: "example.com/worker:1",
			}}}},
		},
	}
}

// waitFor polls cond for up to 15 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestBundlePublisherFollowsWorkerPoolsAndRotation(t *testing.T) {
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme:  testutil.Scheme(),
		Metrics: metricsserver.Options{BindAddress: "0"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var bundle atomic.Value
	bundle.Store([]byte("bundle-1"))
	p := NewBundlePublisher(mgr.GetClient(), func() []byte { return bundle.Load().([]byte) })
	if err := p.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = mgr.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	withPools, without := cluster.NewNamespace(t, "pub"), cluster.NewNamespace(t, "pub-empty")
	bundleIn := func(ns string) (string, bool) {
		cm := &corev1.ConfigMap{}
		err := k8sClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: DefaultBundleConfigMapName}, cm)
		if apierrors.IsNotFound(err) {
			return "", false
		}
		if err != nil {
			t.Fatal(err)
		}
		return cm.Data[BundleKey], true
	}

	pool := workerPool(withPools, "pool")
	if err := k8sClient.Create(ctx, pool); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "bundle in the pool's namespace", func() bool { b, ok := bundleIn(withPools); return ok && b == "bundle-1" })
	if _, ok := bundleIn(without); ok {
		t.Fatal("bundle published to a namespace without WorkerPools")
	}

	bundle.Store([]byte("bundle-2"))
	p.Notify()
	waitFor(t, "rotated bundle", func() bool { b, _ := bundleIn(withPools); return b == "bundle-2" })

	// A ConfigMap of that name the operator does not manage is left alone.
	foreign := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: without, Name: DefaultBundleConfigMapName}, Data: map[string]string{"mine": "yes"}}
	if err := k8sClient.Create(ctx, foreign); err != nil {
		t.Fatal(err)
	}
	if err := k8sClient.Create(ctx, workerPool(without, "pool")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if b, _ := bundleIn(without); b != "" {
		t.Fatal("a foreign ConfigMap was taken over")
	}

	if err := k8sClient.Delete(ctx, pool); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "bundle removed after the last pool", func() bool { _, ok := bundleIn(withPools); return !ok })
}

func TestFileSourceReloadsChangedFiles(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	ca, _ := NewCA("files-ca", now, time.Hour)
	write := func() *KeyPair {
		kp, err := IssueServing(ca, []string{"matching"}, nil, now, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		for name, data := range map[string][]byte{"tls.crt": kp.CertPEM, "tls.key": kp.KeyPEM, "ca.crt": ca.CertPEM} {
			if err := atomicWrite(dir+"/"+name, data); err != nil {
				t.Fatal(err)
			}
		}
		return kp
	}
	first := write()
	f, err := NewFileSource(dir+"/tls.crt", dir+"/tls.key", dir+"/ca.crt", time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if string(f.CABundle()) != string(ca.CertPEM) {
		t.Fatal("bundle not read")
	}
	got, _ := f.GetCertificate(nil)
	if got.Leaf.SerialNumber.Cmp(first.Cert.SerialNumber) != 0 {
		t.Fatal("first certificate not served")
	}
	second := write()
	time.Sleep(5 * time.Millisecond)
	waitFor(t, "reloaded certificate", func() bool {
		got, _ := f.GetCertificate(nil)
		return got.Leaf.SerialNumber.Cmp(second.Cert.SerialNumber) == 0
	})
	if _, err := NewFileSource(dir+"/missing.crt", dir+"/tls.key", "", 0); err == nil {
		t.Fatal("missing certificate file accepted")
	}
}
