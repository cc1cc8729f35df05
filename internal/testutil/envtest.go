// Package testutil starts the real control plane that envtest suites run against.
package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	taskroutev1alpha1 "github.com/taskroute/taskroute/api/v1alpha1"
)

// RepoRoot is the root of the checkout, found from this file's location.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Scheme has the core types and taskroute's types.
func Scheme() *k8sruntime.Scheme {
	s := k8sruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := taskroutev1alpha1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}

// NewEnvironment returns an envtest environment with taskroute's CRDs, using the
// binaries that hack/testbin.sh built. When KUBEBUILDER_ASSETS is unset it asks
// hack/testbin-env.sh where they are, so `go test` works without make.
func NewEnvironment() (*envtest.Environment, error) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		if err := loadTestbinEnv(); err != nil {
			return nil, err
		}
	}
	return &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(RepoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		Scheme:                Scheme(),
	}, nil
}

// Start starts env and returns its client configuration.
func Start(env *envtest.Environment) (*rest.Config, error) {
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting envtest (run hack/testbin.sh envtest first): %w", err)
	}
	return cfg, nil
}

// loadTestbinEnv sets the variables hack/testbin-env.sh prints.
func loadTestbinEnv() error {
	out, err := exec.Command(filepath.Join(RepoRoot(), "hack", "testbin-env.sh")).Output()
	if err != nil {
		return fmt.Errorf("hack/testbin-env.sh: %w", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		kv, ok := strings.CutPrefix(line, "export ")
		if !ok {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, strings.Trim(v, "'"))
	}
	return nil
}
