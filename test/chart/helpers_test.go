// Package chart tests the packaging of taskroute: the Helm chart (rendered by the pinned
// helm binary), the kustomize tree and dist/install.yaml, and the Dockerfile. Rendered
// manifests are decoded strictly into typed objects, so a misspelt field fails too.
package chart

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	sigsyaml "sigs.k8s.io/yaml"

	taskroutev1alpha1 "github.com/taskroute/taskroute/api/v1alpha1"
	"github.com/taskroute/taskroute/internal/testutil"
)

const (
	releaseName      = "taskroute"
	releaseNamespace = "taskroute-system"
)

var (
	repoRoot  = testutil.RepoRoot()
	chartDir  = filepath.Join(repoRoot, "charts", "taskroute")
	scheme    = newScheme()
	decoder   = serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
	helmOnce  sync.Once
	helmPath  string
	helmError error
)

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		clientgoscheme.AddToScheme, apiextensionsv1.AddToScheme, taskroutev1alpha1.AddToScheme,
	} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}

// helmBin returns the pinned helm: $TASKROUTE_HELM_BIN, or the one hack/testbin.sh builds.
func helmBin(t *testing.T) string {
	t.Helper()
	helmOnce.Do(func() {
		if p := os.Getenv("TASKROUTE_HELM_BIN"); p != "" {
			helmPath = p
			return
		}
		build := exec.Command(filepath.Join(repoRoot, "hack", "testbin.sh"), "helm")
		if out, err := build.CombinedOutput(); err != nil {
			helmError = fmt.Errorf("hack/testbin.sh helm: %w\n%s", err, out)
			return
		}
		out, err := exec.Command(filepath.Join(repoRoot, "hack", "testbin-env.sh")).Output()
		if err != nil {
			helmError = fmt.Errorf("hack/testbin-env.sh: %w", err)
			return
		}
		for _, line := range strings.Split(string(out), "\n") {
			if v, ok := strings.CutPrefix(line, "export TASKROUTE_HELM_BIN="); ok {
				helmPath = strings.Trim(v, "'")
			}
		}
		if helmPath == "" {
			helmError = errors.New("hack/testbin-env.sh printed no TASKROUTE_HELM_BIN")
		}
	})
	if helmError != nil {
		t.Fatal(helmError)
	}
	return helmPath
}

// helm runs the pinned helm with a private, empty home, so user configuration never leaks in.
func helm(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(helmBin(t), args...)
	cmd.Env = append(os.Environ(),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
	)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// renderChart is `helm template taskroute charts/taskroute -n taskroute-system <args>`.
func renderChart(t *testing.T, args ...string) []runtime.Object {
	t.Helper()
	full := append([]string{"template", releaseName, chartDir, "--namespace", releaseNamespace}, args...)
	out, stderr, err := helm(t, full...)
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(full, " "), err, stderr)
	}
	return decodeManifests(t, []byte(out))
}

// decodeManifests decodes a multi-document YAML stream strictly into typed objects; kinds
// outside the scheme (ServiceMonitor) come back as *unstructured.Unstructured.
func decodeManifests(t *testing.T, data []byte) []runtime.Object {
	t.Helper()
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var objs []runtime.Object
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reading YAML: %v", err)
		}
		var probe map[string]any
		if err := sigsyaml.Unmarshal(doc, &probe); err != nil {
			t.Fatalf("document is not YAML: %v\n%s", err, doc)
		}
		if len(probe) == 0 { // only comments or blank
			continue
		}
		obj, _, err := decoder.Decode(doc, nil, nil)
		if runtime.IsNotRegisteredError(err) {
			objs = append(objs, &unstructured.Unstructured{Object: probe})
			continue
		}
		if err != nil {
			t.Fatalf("decoding strictly: %v\n%.400s", err, doc)
		}
		objs = append(objs, obj)
	}
	return objs
}

func decodeFile(t *testing.T, path string) []runtime.Object {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return decodeManifests(t, data)
}

// find returns the one object of type T with the given name, failing the test otherwise.
func find[T client.Object](t *testing.T, objs []runtime.Object, name string) T {
	t.Helper()
	var found []T
	for _, o := range objs {
		if typed, ok := o.(T); ok && typed.GetName() == name {
			found = append(found, typed)
		}
	}
	if len(found) != 1 {
		var zero T
		t.Fatalf("want exactly one %T named %q, found %d (objects: %s)", zero, name, len(found), describe(objs))
	}
	return found[0]
}

// all returns every object of type T.
func all[T client.Object](objs []runtime.Object) []T {
	var out []T
	for _, o := range objs {
		if typed, ok := o.(T); ok {
			out = append(out, typed)
		}
	}
	return out
}

// objectKey names an object by kind, namespace and name.
func objectKey(o runtime.Object) string {
	gvk := o.GetObjectKind().GroupVersionKind()
	m := o.(interface {
		GetName() string
		GetNamespace() string
	})
	return fmt.Sprintf("%s/%s/%s", gvk.Kind, m.GetNamespace(), m.GetName())
}

func describe(objs []runtime.Object) string {
	keys := make([]string, 0, len(objs))
	for _, o := range objs {
		keys = append(keys, objectKey(o))
	}
	return strings.Join(keys, ", ")
}

// readYAML decodes a YAML (or JSON) file into out.
func readYAML(t *testing.T, path string, out any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := sigsyaml.Unmarshal(data, out); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
