package server

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// A stopped service takes its metrics out of the registry: a closed engine exports
// nothing, and a second service (a manager run again in the same process) registers.
func TestStopUnregistersMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	for i := range 2 {
		svc, err := Open(Config{Address: "127.0.0.1:0", DataDir: t.TempDir(), Registerer: reg})
		if err != nil {
			t.Fatalf("service %d: %v", i+1, err)
		}
		if n := matchingFamilies(t, reg); n == 0 {
			t.Fatalf("service %d: no taskroute_matching metric registered", i+1)
		}
		svc.Stop()
		if n := matchingFamilies(t, reg); n != 0 {
			t.Fatalf("service %d stopped: %d taskroute_matching metric families still registered", i+1, n)
		}
	}
}

func matchingFamilies(t *testing.T, reg *prometheus.Registry) int {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range families {
		if strings.HasPrefix(f.GetName(), "taskroute_matching_") {
			n++
		}
	}
	return n
}
