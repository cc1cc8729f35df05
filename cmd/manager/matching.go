package main

import (
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/taskroute/taskroute/internal/queueconfig"
)

// setupMatching returns the Registry the reconcilers publish queue configuration to.
// The matching service replaces this body: it adds its Runnable to mgr and returns itself.
// Until then queue configuration lives in memory only.
func setupMatching(mgr ctrl.Manager, opts *options) (queueconfig.Registry, error) {
	_ = mgr
	_ = opts
	return queueconfig.NewMemory(), nil
}
