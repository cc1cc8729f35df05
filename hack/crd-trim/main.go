// Command crd-trim removes the descriptions inside embedded Kubernetes types (the pod
// template of a WorkerPool) from generated CRDs. Those descriptions copy the core API's
// documentation and make the CRD too large for client-side `kubectl apply` (whose
// last-applied annotation is limited to 256 KiB). The CRD's own fields keep theirs.
//
//	go run ./hack/crd-trim config/crd/bases/*.yaml
package main

import (
	"fmt"
	"os"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"
)

// embeddedPaths are property paths, from the version schema's root, whose subtrees are
// embedded core types.
var embeddedPaths = [][]string{
	{"spec", "template", "metadata"},
	{"spec", "template", "spec"},
	{"spec", "capabilities", "[]", "tolerations"},
	{"spec", "placement", "tolerations"},
}

func main() {
	for _, path := range os.Args[1:] {
		if err := trimFile(path); err != nil {
			fmt.Fprintf(os.Stderr, "crd-trim: %s: %v\n", path, err)
			os.Exit(1)
		}
	}
}

func trimFile(path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.Unmarshal(raw, &crd); err != nil {
		return err
	}
	for i := range crd.Spec.Versions {
		v := &crd.Spec.Versions[i]
		if v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
			continue
		}
		for _, p := range embeddedPaths {
			trimAt(v.Schema.OpenAPIV3Schema, p)
		}
	}
	// Marshal through a map so the empty status a typed CRD carries stays out of the file.
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&crd)
	if err != nil {
		return err
	}
	delete(obj, "status")
	out, err := yaml.Marshal(obj)
	if err != nil {
		return err
	}
	return os.WriteFile(path, append([]byte("---\n"), out...), 0o644)
}

// trimAt walks properties by name ("[]" steps into array items) and clears every
// description below the schema it reaches. Schemas are stored by value in their parent's
// map, so each step writes the edited child back.
func trimAt(s *apiextensionsv1.JSONSchemaProps, path []string) {
	if len(path) == 0 {
		clearBelow(s)
		return
	}
	if path[0] == "[]" {
		if s.Items != nil && s.Items.Schema != nil {
			trimAt(s.Items.Schema, path[1:])
		}
		return
	}
	child, ok := s.Properties[path[0]]
	if !ok {
		return
	}
	trimAt(&child, path[1:])
	s.Properties[path[0]] = child
}

// clearBelow removes the descriptions of every schema below s, keeping s's own.
func clearBelow(s *apiextensionsv1.JSONSchemaProps) {
	for name, child := range s.Properties {
		child.Description = ""
		clearBelow(&child)
		s.Properties[name] = child
	}
	if s.Items != nil && s.Items.Schema != nil {
		s.Items.Schema.Description = ""
		clearBelow(s.Items.Schema)
	}
	if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
		s.AdditionalProperties.Schema.Description = ""
		clearBelow(s.AdditionalProperties.Schema)
	}
}
