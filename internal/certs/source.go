package certs

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// Source serves the matching port's certificate and knows the CA bundle clients need.
// SelfSigned and FileSource implement it.
type Source interface {
	// GetCertificate is tls.Config.GetCertificate: asked at every handshake, so a new
	// certificate takes effect for new connections while open ones (running long polls)
	// keep theirs.
	GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error)
	// CABundle is the PEM bundle clients must trust; nil when unknown.
	CABundle() []byte
}

// ServerTLSConfig is the matching server's TLS configuration for src; pass it to
// grpc.Creds(credentials.NewTLS(...)).
func ServerTLSConfig(src Source) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: src.GetCertificate,
		NextProtos:     []string{"h2"},
	}
}

// Clock is the time source; tests inject one to make certificates due for renewal.
type Clock interface{ Now() time.Time }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// FileSource serves a certificate from PEM files that something else renews: the Secret
// of a cert-manager Certificate mounted into the manager (--matching-tls=cert-manager), or
// files the user provides (--matching-tls=files). The files are re-read when they change.
type FileSource struct {
	certFile, keyFile, caFile string
	interval                  time.Duration

	mu        sync.Mutex
	cert      *tls.Certificate
	bundle    []byte
	stamp     string // modification times and sizes of the files read
	checkedAt time.Time
}

// NewFileSource reads certFile and keyFile (and caFile, the bundle published to worker
// namespaces, when not empty) now and then at most every interval (10s when zero).
func NewFileSource(certFile, keyFile, caFile string, interval time.Duration) (*FileSource, error) {
	if interval <= 0 {
		interval = 10 * time.Second
	}
	f := &FileSource{certFile: certFile, keyFile: keyFile, caFile: caFile, interval: interval}
	if err := f.reload(); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *FileSource) fileStamp() string {
	s := ""
	for _, p := range []string{f.certFile, f.keyFile, f.caFile} {
		if p == "" {
			continue
		}
		if info, err := os.Stat(p); err == nil {
			s += fmt.Sprintf("%d/%d;", info.ModTime().UnixNano(), info.Size())
		}
	}
	return s
}

func (f *FileSource) reload() error {
	stamp := f.fileStamp()
	pair, err := tls.LoadX509KeyPair(f.certFile, f.keyFile)
	if err != nil {
		return fmt.Errorf("matching TLS certificate %s / %s: %w", f.certFile, f.keyFile, err)
	}
	var bundle []byte
	if f.caFile != "" {
		if bundle, err = os.ReadFile(f.caFile); err != nil {
			return fmt.Errorf("matching TLS CA bundle: %w", err)
		}
	}
	f.cert, f.bundle, f.stamp = &pair, bundle, stamp
	return nil
}

func (f *FileSource) refresh() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if time.Since(f.checkedAt) < f.interval {
		return
	}
	f.checkedAt = time.Now()
	if f.fileStamp() != f.stamp {
		_ = f.reload() // a half-written update keeps the last good pair
	}
}

// GetCertificate implements Source.
func (f *FileSource) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	f.refresh()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cert == nil {
		return nil, errors.New("no serving certificate")
	}
	return f.cert, nil
}

// CABundle implements Source.
func (f *FileSource) CABundle() []byte {
	f.refresh()
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bundle
}
