package localcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
)

// ApplyFieldManager is the field manager of objects applied by ApplyYAML.
const ApplyFieldManager = "taskroute-localcluster"

// maxManifestBytes bounds one manifest file; samples and test fixtures are small.
const maxManifestBytes = 4 << 20

// ApplyDir server-side applies every *.yaml and *.yml file of dir (sorted by name), the
// way `kubectl apply --server-side -f dir` would. Kustomization files are skipped: they are
// build instructions for kustomize, not objects. defaultNamespace is used for namespaced
// objects that name none. It returns the applied objects.
func (c *Cluster) ApplyDir(ctx context.Context, dir, defaultNamespace string) ([]*unstructured.Unstructured, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		if !e.IsDir() && (strings.HasSuffix(e.Name(), ".yaml") || strings.HasSuffix(e.Name(), ".yml")) {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(files)
	var applied []*unstructured.Unstructured
	for _, f := range files {
		data, err := readBounded(f)
		if err != nil {
			return applied, err
		}
		objs, err := c.ApplyYAML(ctx, data, defaultNamespace)
		applied = append(applied, objs...)
		if err != nil {
			return applied, fmt.Errorf("%s: %w", f, err)
		}
	}
	return applied, nil
}

// ApplyYAML server-side applies each object of a multi-document YAML stream.
func (c *Cluster) ApplyYAML(ctx context.Context, data []byte, defaultNamespace string) ([]*unstructured.Unstructured, error) {
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		return nil, err
	}
	// A fresh mapper per call: CRDs installed a moment ago must resolve.
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(c.Client.Discovery()))
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var applied []*unstructured.Unstructured
	for i := 0; ; i++ {
		var raw map[string]any
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				return applied, nil
			}
			return applied, fmt.Errorf("document %d: %w", i, err)
		}
		if len(raw) == 0 {
			continue
		}
		obj := &unstructured.Unstructured{Object: raw}
		gvk := obj.GroupVersionKind()
		if gvk.Kind == "Kustomization" {
			continue
		}
		if gvk.Kind == "" || gvk.Version == "" || obj.GetName() == "" {
			return applied, fmt.Errorf("document %d: apiVersion, kind and metadata.name are required", i)
		}
		mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return applied, fmt.Errorf("%s %s: %w", gvk.Kind, obj.GetName(), err)
		}
		var ri dynamic.ResourceInterface = dyn.Resource(mapping.Resource)
		if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
			if obj.GetNamespace() == "" {
				obj.SetNamespace(defaultNamespace)
			}
			ri = dyn.Resource(mapping.Resource).Namespace(obj.GetNamespace())
		}
		force := true
		out, err := ri.Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: ApplyFieldManager, Force: force})
		if err != nil {
			if apierrors.IsInvalid(err) {
				return applied, fmt.Errorf("%s %s rejected: %w", gvk.Kind, obj.GetName(), err)
			}
			return applied, fmt.Errorf("applying %s %s: %w", gvk.Kind, obj.GetName(), err)
		}
		applied = append(applied, out)
	}
}

func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxManifestBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxManifestBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxManifestBytes)
	}
	return data, nil
}
