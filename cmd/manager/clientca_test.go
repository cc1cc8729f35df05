package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/taskroute/taskroute/internal/certs"
)

// TestClientCAFlag: --matching-client-ca-file needs TLS, must hold a PEM certificate, and
// turns on client-certificate verification of the matching port.
func TestClientCAFlag(t *testing.T) {
	o, _ := parseSecurity(t, "--matching-tls=disabled", "--matching-client-ca-file=/ca.crt")
	if _, err := o.validate(); err == nil || !strings.Contains(err.Error(), "needs TLS") {
		t.Fatalf("client CA with TLS disabled: %v, want an error saying it needs TLS", err)
	}

	ca, err := certs.NewCA("keda-clients", time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	serving, err := certs.IssueServing(ca, []string{"localhost"}, nil, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	src, err := certs.NewFileSource(write("tls.crt", serving.CertPEM), write("tls.key", serving.KeyPEM), "", 0)
	if err != nil {
		t.Fatal(err)
	}

	o, _ = parseSecurity(t, "--matching-client-ca-file="+write("empty.crt", []byte("not PEM")))
	if _, err := o.tlsServerOptions(src); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Fatalf("client CA file without a certificate: %v", err)
	}
	o, _ = parseSecurity(t, "--matching-client-ca-file="+write("ca.crt", ca.CertPEM))
	if opts, err := o.tlsServerOptions(src); err != nil || len(opts) != 1 {
		t.Fatalf("client CA file: %v, %d options", err, len(opts))
	}
}
