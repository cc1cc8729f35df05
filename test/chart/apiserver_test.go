package chart

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	taskroutev1alpha1 "github.com/taskroute/taskroute/api/v1alpha1"
	"github.com/taskroute/taskroute/internal/testutil"
)

// warnings collects the API server's warning headers, such as Pod Security "warn" results.
type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) HandleWarningHeaderWithContext(_ context.Context, _ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.list
	w.list = nil
	return out
}

// TestInstallOnAPIServer applies dist/install.yaml with server-side apply to a real
// kube-apiserver (envtest), then the samples, then the chart into a second namespace. It
// proves the manifests are accepted as they are (schema, CEL, RBAC, Pod Security
// "restricted" without a single warning), and that the samples pass the CRDs' validation.
func TestInstallOnAPIServer(t *testing.T) {
	env, err := testutil.NewEnvironment()
	if err != nil {
		t.Fatal(err)
	}
	env.CRDDirectoryPaths = nil // the CRDs come from dist/install.yaml, as for a user
	cfg, err := testutil.Start(env)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Logf("stopping envtest: %v", err)
		}
	})
	warn := &warnings{}
	cfg.WarningHandlerWithContext = warn
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	for _, o := range distObjects(t) {
		apply(ctx, t, c, o, "")
	}
	if w := warn.take(); len(w) != 0 {
		t.Errorf("applying dist/install.yaml produced warnings (Pod Security restricted?): %q", w)
	}
	waitEstablished(ctx, t, c)

	// Control: the namespace really warns about a pod that is not restricted, so the empty
	// warning list above means something.
	bad := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "not-restricted", Namespace: releaseNamespace},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "x"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "x"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "x", Image: "x"}}},
			},
		},
	}
	if err := c.Create(ctx, bad, client.DryRunAll); err != nil {
		t.Fatal(err)
	}
	if w := warn.take(); len(w) == 0 || !strings.Contains(strings.Join(w, " "), "restricted") {
		t.Errorf("control: a non-restricted pod template got no Pod Security warning (%q)", w)
	}

	t.Run("samples", func(t *testing.T) {
		ns := createNamespace(ctx, t, c, "samples")
		var kustomization struct {
			Resources []string `json:"resources"`
		}
		readYAML(t, filepath.Join(repoRoot, "config", "samples", "kustomization.yaml"), &kustomization)
		if len(kustomization.Resources) < 4 {
			t.Fatalf("config/samples lists %d resources, want the queue and three pools", len(kustomization.Resources))
		}
		for _, f := range kustomization.Resources {
			for _, o := range decodeFile(t, filepath.Join(repoRoot, "config", "samples", f)) {
				obj := o.(client.Object)
				obj.SetNamespace(ns)
				if err := c.Create(ctx, obj); err != nil {
					t.Errorf("sample %s rejected: %v", f, err)
				}
			}
		}
		gpu := &taskroutev1alpha1.WorkerPool{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "media-gpu"}, gpu); err != nil {
			t.Fatal(err)
		}
		if len(gpu.Spec.Capabilities) != 1 || gpu.Spec.Capabilities[0].Name != "gpu" || gpu.Spec.Capabilities[0].Value != "a100" {
			t.Errorf("GPU sample capabilities = %+v, want gpu=a100", gpu.Spec.Capabilities)
		}
		host := &taskroutev1alpha1.WorkerPool{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "media-host"}, host); err != nil {
			t.Fatal(err)
		}
		if host.Spec.Placement == nil || len(host.Spec.Placement.Hosts) != 1 || host.Spec.Placement.Hosts[0] != "kwok-node-cpu-1" {
			t.Errorf("host sample placement = %+v", host.Spec.Placement)
		}
		queue := &taskroutev1alpha1.TaskQueue{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "media"}, queue); err != nil {
			t.Fatal(err)
		}
		if queue.Spec.RateLimit == nil || queue.Spec.Priority == nil || queue.Spec.Priority.Levels < 2 {
			t.Errorf("queue sample must have a rate limit and priority levels: %+v", queue.Spec)
		}
	})

	t.Run("chart", func(t *testing.T) {
		ns := createNamespace(ctx, t, c, "tr-chart")
		// CRDs are already installed by dist; a second owner of them would conflict.
		out, stderr, err := helm(t, "template", "tr", chartDir, "-n", ns, "--set", "crds.install=false",
			"--set", "metrics.serviceMonitor.enabled=false")
		if err != nil {
			t.Fatalf("helm template: %v\n%s", err, stderr)
		}
		objs := decodeManifests(t, []byte(out))
		for _, o := range objs {
			apply(ctx, t, c, o, ns)
		}
		if w := warn.take(); len(w) != 0 {
			t.Errorf("applying the chart produced warnings: %q", w)
		}
		dep := &appsv1.Deployment{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "tr-taskroute-manager"}, dep); err != nil {
			t.Fatalf("chart manager Deployment not found: %v", err)
		}
	})
}

// apply server-side-applies a decoded object, like `kubectl apply --server-side`.
func apply(ctx context.Context, t *testing.T, c client.Client, o runtime.Object, namespace string) {
	t.Helper()
	content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: content}
	if namespace != "" && u.GetNamespace() != "" && u.GetNamespace() != namespace {
		t.Fatalf("%s is not in namespace %s", objectKey(o), namespace)
	}
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u.Object, "status")
	if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner("taskroute-install"), client.ForceOwnership); err != nil {
		t.Fatalf("server-side apply of %s: %v", objectKey(o), err)
	}
}

func createNamespace(ctx context.Context, t *testing.T, c client.Client, name string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
		"pod-security.kubernetes.io/warn": "restricted",
	}}}
	if err := c.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	return name
}

func waitEstablished(ctx context.Context, t *testing.T, c client.Client) {
	t.Helper()
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		list := &apiextensionsv1.CustomResourceDefinitionList{}
		if err := c.List(ctx, list); err != nil {
			return false, err
		}
		established := 0
		for _, crd := range list.Items {
			for _, cond := range crd.Status.Conditions {
				if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
					established++
				}
			}
		}
		return established >= 2, nil
	})
	if err != nil {
		t.Fatal(fmt.Errorf("CRDs from dist/install.yaml not established: %w", err))
	}
}
