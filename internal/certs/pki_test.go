package certs

import (
	"crypto/x509"
	"net"
	"os"
	"testing"
	"time"
)

func TestIssueServingIsVerifiableAndBoundedByCA(t *testing.T) {
	now := time.Now()
	ca, err := NewCA("test-ca", now, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := IssueServing(ca, []string{"matching.svc"}, []net.IP{net.ParseIP("127.0.0.1")}, now, 48*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !srv.Cert.NotAfter.Equal(ca.Cert.NotAfter) {
		t.Fatalf("serving cert outlives its CA: %s > %s", srv.Cert.NotAfter, ca.Cert.NotAfter)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	for _, name := range []string{"matching.svc", "127.0.0.1"} {
		if _, err := srv.Cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: name, CurrentTime: now}); err != nil {
			t.Fatalf("verify %s: %v", name, err)
		}
	}
	if _, err := srv.Cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: "other.svc", CurrentTime: now}); err == nil {
		t.Fatal("serving cert valid for a name it was not issued for")
	}
	if _, err := IssueServing(ca, nil, nil, now, time.Hour); err == nil {
		t.Fatal("serving cert without names was issued")
	}
	parsed, err := ParseKeyPair(srv.CertPEM, srv.KeyPEM)
	if err != nil || parsed.Cert.SerialNumber.Cmp(srv.Cert.SerialNumber) != 0 {
		t.Fatalf("round trip: %v", err)
	}
	if got, want := RenewAt(ca.Cert, 0.5), ca.Cert.NotBefore.Add(ca.Cert.NotAfter.Sub(ca.Cert.NotBefore)/2); !got.Equal(want) {
		t.Fatalf("RenewAt = %s, want %s", got, want)
	}
}

// atomicWrite replaces path by renaming a temporary file, as a Secret volume update does.
func atomicWrite(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
