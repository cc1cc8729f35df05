// Package testserver runs the real matching service (Pebble on disk, gRPC on a loopback
// port) for tests of the SDK and of the service itself.
package testserver

import (
	"testing"
	"time"

	"github.com/taskroute/taskroute/internal/matching"
	"github.com/taskroute/taskroute/internal/matching/server"
	"github.com/taskroute/taskroute/internal/storage/pebblestore"
)

// Options configure a test server. The zero value is fine.
type Options struct {
	// DataDir is the Pebble directory; empty means a fresh t.TempDir(). Reuse a directory
	// across Start calls to test restarts.
	DataDir string
	Limits  server.Limits
	Engine  matching.Options
	Store   pebblestore.Options
	// ScalerRecheck: see server.Config.
	ScalerRecheck time.Duration
}

// Start runs the matching service on 127.0.0.1 with a free port and returns its address
// and a stop function (also registered with t.Cleanup; calling it twice is fine).
func Start(t testing.TB, opts Options) (addr string, stop func()) {
	svc := StartService(t, opts)
	return svc.Addr(), svc.Stop
}

// StartService is Start returning the Service (for its Engine, or Abandon to simulate a
// crash).
func StartService(t testing.TB, opts Options) *server.Service {
	t.Helper()
	if opts.DataDir == "" {
		opts.DataDir = t.TempDir()
	}
	svc, err := server.Open(server.Config{Address: "127.0.0.1:0", DataDir: opts.DataDir, Limits: opts.Limits, Engine: opts.Engine, Store: opts.Store, ScalerRecheck: opts.ScalerRecheck})
	if err != nil {
		t.Fatalf("starting matching test server: %v", err)
	}
	go func() { _ = svc.Start(t.Context()) }()
	t.Cleanup(svc.Stop)
	return svc
}
