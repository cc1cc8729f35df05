package localcluster

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// pki is the cluster's key material: one CA that signs the apiserver's serving
// certificate and every client certificate, and the service-account key pair. It is
// generated in Go at every start, so no openssl is needed and nothing outlives the cluster.
type pki struct {
	caCertPEM []byte
	caCert    *x509.Certificate
	caKey     *rsa.PrivateKey

	// Files handed to the components.
	caFile          string
	servingCertFile string
	servingKeyFile  string
	saPublicFile    string
	saPrivateFile   string
}

// clientCert is a certificate and key in PEM, for a kubeconfig.
type clientCert struct {
	certPEM []byte
	keyPEM  []byte
}

func newPKI(dir string, serviceIP net.IP) (*pki, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	caKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generating CA key: %w", err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "taskroute-local-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("signing CA: %w", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	p := &pki{
		caCertPEM:       pemBlock("CERTIFICATE", caDER),
		caCert:          caCert,
		caKey:           caKey,
		caFile:          filepath.Join(dir, "ca.crt"),
		servingCertFile: filepath.Join(dir, "apiserver.crt"),
		servingKeyFile:  filepath.Join(dir, "apiserver.key"),
		saPublicFile:    filepath.Join(dir, "sa.pub"),
		saPrivateFile:   filepath.Join(dir, "sa.key"),
	}
	if err := os.WriteFile(p.caFile, p.caCertPEM, 0o600); err != nil {
		return nil, err
	}

	// Serving certificate: every name a client inside or outside the cluster uses.
	serving, err := p.sign(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), serviceIP},
	})
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(p.servingCertFile, serving.certPEM, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(p.servingKeyFile, serving.keyPEM, 0o600); err != nil {
		return nil, err
	}

	// Service-account signing key pair (what DESIGN.md made with openssl).
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generating service-account key: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(p.saPublicFile, pemBlock("PUBLIC KEY", pubDER), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(p.saPrivateFile, pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(saKey)), 0o600); err != nil {
		return nil, err
	}
	return p, nil
}

// clientCertificate signs a client certificate; groups become the subject's
// organizations, which is how the apiserver reads them (system:masters is admin).
func (p *pki) clientCertificate(user string, groups ...string) (*clientCert, error) {
	return p.sign(&x509.Certificate{
		Subject:     pkix.Name{CommonName: user, Organization: groups},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
}

func (p *pki) sign(tmpl *x509.Certificate) (*clientCert, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generating key for %s: %w", tmpl.Subject.CommonName, err)
	}
	now := time.Now()
	tmpl.SerialNumber = serial()
	tmpl.NotBefore = now.Add(-time.Hour)
	tmpl.NotAfter = now.Add(365 * 24 * time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &key.PublicKey, p.caKey)
	if err != nil {
		return nil, fmt.Errorf("signing certificate for %s: %w", tmpl.Subject.CommonName, err)
	}
	return &clientCert{
		certPEM: pemBlock("CERTIFICATE", der),
		keyPEM:  pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key)),
	}, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return n
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}
