package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"os"
	"time"
)

// LoadClientCAs reads a PEM bundle of the CAs whose client certificates the matching port
// accepts (--matching-client-ca-file): callers that cannot send a bearer token, such as
// KEDA's external scaler client, authenticate with a certificate instead.
func LoadClientCAs(file string) (*x509.CertPool, error) {
	pemBytes, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("matching client CA bundle: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, fmt.Errorf("matching client CA bundle %s: no PEM certificate", file)
	}
	return pool, nil
}

// WithClientCAs makes cfg verify a client certificate when the client sends one, against
// pool. Clients without a certificate still connect (workers use bearer tokens); the
// guard decides what a call may do.
func WithClientCAs(cfg *tls.Config, pool *x509.CertPool) *tls.Config {
	if pool == nil {
		return cfg
	}
	cfg.ClientCAs = pool
	cfg.ClientAuth = tls.VerifyClientCertIfGiven
	return cfg
}

// IssueClient issues a client certificate signed by ca whose subject names the user
// (common name) and its groups (organizations), as Kubernetes reads client certificates.
func IssueClient(ca *KeyPair, user string, groups []string, now time.Time, validity time.Duration) (*KeyPair, error) {
	if user == "" {
		return nil, errors.New("client certificate: no user")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating client key: %w", err)
	}
	notAfter := now.Add(validity)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:   serialNumber(),
		Subject:        pkix.Name{CommonName: user, Organization: groups},
		NotBefore:      now.Add(-backdate),
		NotAfter:       notAfter,
		KeyUsage:       x509.KeyUsageDigitalSignature,
		ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		SubjectKeyId:   keyID(&key.PublicKey),
		AuthorityKeyId: ca.Cert.SubjectKeyId,
	}
	return sign(tmpl, ca.Cert, key, ca.Key)
}
