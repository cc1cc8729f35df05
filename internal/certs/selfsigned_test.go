package certs

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	testingclock "k8s.io/utils/clock/testing"
)

const serviceName = "taskroute-matching"

// startEchoTLS serves src's certificate on loopback; every connection echoes lines.
func startEchoTLS(t *testing.T, src Source) string {
	t.Helper()
	lis, err := tls.Listen("tcp", "127.0.0.1:0", ServerTLSConfig(src))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lis.Close() })
	go func() {
		for {
			conn, err := lis.Accept()
			if err != nil {
				return
			}
			go func() { defer conn.Close(); _, _ = io.Copy(conn, conn) }()
		}
	}()
	return lis.Addr().String()
}

func poolOf(t *testing.T, pemBundle []byte) *x509.CertPool {
	t.Helper()
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(pemBundle) {
		t.Fatal("bundle has no certificates")
	}
	return p
}

// dial connects as a client whose clock is now (the injected clock of the test).
func dial(addr string, roots *x509.CertPool, serverName string, now func() time.Time) (*tls.Conn, error) {
	return tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr,
		&tls.Config{RootCAs: roots, ServerName: serverName, MinVersion: tls.VersionTLS12, Time: now})
}

func echo(t *testing.T, conn *tls.Conn, line string) {
	t.Helper()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte(line + "\n")); err != nil {
		t.Fatalf("write on open connection: %v", err)
	}
	got, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || strings.TrimSpace(got) != line {
		t.Fatalf("echo on open connection: %q, %v", got, err)
	}
}

func newSelfSigned(t *testing.T, ns string, clock Clock, onBundle func()) *SelfSigned {
	t.Helper()
	s, err := NewSelfSigned(k8sClient, nil, SelfSignedOptions{
		Namespace:        ns,
		DNSNames:         ServiceDNSNames(serviceName, ns),
		IPAddresses:      []net.IP{net.ParseIP("127.0.0.1")},
		CAValidity:       300 * 24 * time.Hour,
		ServingValidity:  30 * 24 * time.Hour,
		PropagationDelay: 10 * time.Minute,
		Clock:            clock,
		OnBundleChanged:  onBundle,
		Log:              logr.Discard(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func servingSerial(t *testing.T, s *SelfSigned) string {
	t.Helper()
	c, err := s.GetCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	return c.Leaf.SerialNumber.String()
}

func TestSelfSignedCreatesCAAndServesVerifiably(t *testing.T) {
	ns := cluster.NewNamespace(t, "tls")
	bundleChanges := 0
	clock := testingclock.NewFakeClock(time.Now())
	s := newSelfSigned(t, ns, clock, func() { bundleChanges++ })
	if _, err := s.GetCertificate(nil); err == nil || s.Ready() {
		t.Fatal("a certificate was served before Ensure")
	}
	if err := s.Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	secret := &corev1.Secret{}
	if err := k8sClient.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: DefaultCASecretName}, secret); err != nil {
		t.Fatalf("CA Secret: %v", err)
	}
	if len(secret.Data[KeyCACert]) == 0 || len(secret.Data[KeyCAKey]) == 0 || bundleChanges != 1 {
		t.Fatalf("CA Secret keys %v, bundle changes %d", secret.Data, bundleChanges)
	}
	if string(s.CABundle()) != string(secret.Data[KeyCACert]) {
		t.Fatal("bundle is not the CA of the Secret")
	}

	addr := startEchoTLS(t, s)
	roots := poolOf(t, s.CABundle())
	for _, name := range ServiceDNSNames(serviceName, ns) {
		conn, err := dial(addr, roots, name, clock.Now)
		if err != nil {
			t.Fatalf("client trusting the CA, name %s: %v", name, err)
		}
		echo(t, conn, "hello")
		conn.Close()
	}
	if _, err := dial(addr, nil, serviceName, clock.Now); err == nil {
		t.Fatal("a client without the CA (system roots) was accepted")
	}
	other, _ := NewCA("other", time.Now(), time.Hour)
	if _, err := dial(addr, poolOf(t, other.CertPEM), serviceName, clock.Now); err == nil {
		t.Fatal("a client trusting another CA was accepted")
	}
	if _, err := dial(addr, roots, "evil.example", clock.Now); err == nil {
		t.Fatal("certificate accepted for a name it was not issued for")
	}

	// A second replica (or a restart) reuses the CA instead of creating another.
	s2 := newSelfSigned(t, ns, testingclock.NewFakeClock(time.Now()), nil)
	if err := s2.Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	if string(s2.CABundle()) != string(s.CABundle()) {
		t.Fatal("second instance made its own CA")
	}
	if _, err := dial(startEchoTLS(t, s2), roots, serviceName, clock.Now); err != nil {
		t.Fatalf("second replica's certificate: %v", err)
	}
}

func TestSelfSignedRotatesServingCertWithoutDroppingConnections(t *testing.T) {
	ns := cluster.NewNamespace(t, "tls")
	clock := testingclock.NewFakeClock(time.Now())
	s := newSelfSigned(t, ns, clock, nil)
	ctx := context.Background()
	if err := s.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	first := servingSerial(t, s)
	addr := startEchoTLS(t, s)
	roots := poolOf(t, s.CABundle())
	open, err := dial(addr, roots, serviceName, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	echo(t, open, "before")

	clock.Step(19 * 24 * time.Hour) // before 2/3 of 30 days
	if err := s.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	if servingSerial(t, s) != first {
		t.Fatal("serving certificate renewed too early")
	}
	clock.Step(2 * 24 * time.Hour) // past 20 days
	if err := s.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	second := servingSerial(t, s)
	if second == first {
		t.Fatal("serving certificate not renewed at 2/3 of its lifetime")
	}
	// The open connection (a running long poll) is untouched; a new one gets the new cert.
	echo(t, open, "after")
	if got := open.ConnectionState().PeerCertificates[0].SerialNumber.String(); got != first {
		t.Fatalf("open connection's certificate changed to %s", got)
	}
	fresh, err := dial(addr, roots, serviceName, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if got := fresh.ConnectionState().PeerCertificates[0].SerialNumber.String(); got != second {
		t.Fatalf("new connection got certificate %s, want the renewed %s", got, second)
	}
}

func TestSelfSignedRotatesCAWithOverlap(t *testing.T) {
	ns := cluster.NewNamespace(t, "tls")
	clock := testingclock.NewFakeClock(time.Now())
	changes := 0
	s := newSelfSigned(t, ns, clock, func() { changes++ })
	ctx := context.Background()
	if err := s.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	oldBundle := s.CABundle()
	addr := startEchoTLS(t, s)

	clock.Step(201 * 24 * time.Hour) // past 2/3 of 300 days
	if err := s.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	secret := &corev1.Secret{}
	if err := k8sClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: DefaultCASecretName}, secret); err != nil {
		t.Fatal(err)
	}
	if string(secret.Data[KeyPreviousCACert]) != string(oldBundle) || string(secret.Data[KeyCACert]) == string(oldBundle) {
		t.Fatal("CA Secret does not hold a new CA and the previous one")
	}
	if changes != 2 || len(poolOf(t, s.CABundle()).Subjects()) != 2 { //nolint:staticcheck // counting certs
		t.Fatalf("bundle after rotation: %d changes", changes)
	}

	// Until the new CA has propagated, clients holding only the old bundle still verify.
	if _, err := dial(addr, poolOf(t, oldBundle), serviceName, clock.Now); err != nil {
		t.Fatalf("old bundle refused right after CA rotation: %v", err)
	}
	clock.Step(11 * time.Minute)
	if err := s.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	newOnly := poolOf(t, secret.Data[KeyCACert])
	if _, err := dial(addr, newOnly, serviceName, clock.Now); err != nil {
		t.Fatalf("serving certificate not from the new CA after propagation: %v", err)
	}
	if _, err := dial(addr, poolOf(t, s.CABundle()), serviceName, clock.Now); err != nil {
		t.Fatalf("published bundle does not verify: %v", err)
	}
}

func TestSelfSignedRefusesToOverwriteABrokenCA(t *testing.T) {
	ns := cluster.NewNamespace(t, "tls")
	secret := &corev1.Secret{}
	secret.Namespace, secret.Name = ns, DefaultCASecretName
	secret.Data = map[string][]byte{KeyCACert: []byte("garbage")}
	if err := k8sClient.Create(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	s := newSelfSigned(t, ns, testingclock.NewFakeClock(time.Now()), nil)
	err := s.Ensure(context.Background())
	if err == nil || !strings.Contains(err.Error(), "delete the Secret") {
		t.Fatalf("want an error asking to delete the Secret, got %v", err)
	}
}
