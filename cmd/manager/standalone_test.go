package main

import (
	"flag"
	"testing"
)

// TestStandaloneBindsEndpointsToLoopback: --standalone moves the metrics and probe
// endpoints to 127.0.0.1 unless their flags were given.
func TestStandaloneBindsEndpointsToLoopback(t *testing.T) {
	for _, tc := range []struct {
		args                   []string
		wantMetrics, wantProbe string
	}{
		{nil, "127.0.0.1:8080", "127.0.0.1:8081"},
		{[]string{"--metrics-bind-address=:9090"}, ":9090", "127.0.0.1:8081"},
		{[]string{"--metrics-bind-address=0", "--health-probe-bind-address=0.0.0.0:8081"}, "0", "0.0.0.0:8081"},
	} {
		opts := &options{}
		fs := flag.NewFlagSet("manager", flag.ContinueOnError)
		opts.bind(fs)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		got := standaloneAddresses(opts, fs)
		if got.metricsAddr != tc.wantMetrics || got.probeAddr != tc.wantProbe {
			t.Errorf("%v: metrics %q probes %q, want %q %q", tc.args, got.metricsAddr, got.probeAddr, tc.wantMetrics, tc.wantProbe)
		}
	}
}
