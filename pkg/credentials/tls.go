package credentials

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"google.golang.org/grpc/credentials"
)

// DefaultCAFile is where the operator mounts the CA bundle of the matching service.
const DefaultCAFile = "/var/run/secrets/taskroute/ca/ca.crt"

// maxBundleBytes bounds what we read from the CA file.
const maxBundleBytes = 1 << 20

// CAFileOptions configure NewCAFileTLS. Zero values take the defaults.
type CAFileOptions struct {
	// ServerName overrides the name verified in the server's certificate (the host of
	// the dialed address).
	ServerName string
	// CheckInterval is how often the file is stat'ed for a change (10 seconds).
	CheckInterval time.Duration
	Now           func() time.Time
}

// caFileTLS is TLS transport credentials whose trusted roots come from a PEM file that is
// re-read when it changes, so a CA rotation (the operator updates the ConfigMap, the
// kubelet swaps the mounted file) reaches new connections without a restart.
type caFileTLS struct {
	path string
	opts CAFileOptions

	mu        sync.Mutex
	pool      *x509.CertPool
	info      os.FileInfo
	checkedAt time.Time
}

// NewCAFileTLS returns transport credentials that verify the server against the CA
// bundle in path. It reads the file once now so a bad file is reported at startup.
func NewCAFileTLS(path string, opts CAFileOptions) (credentials.TransportCredentials, error) {
	if opts.CheckInterval <= 0 {
		opts.CheckInterval = 10 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	c := &caFileTLS{path: path, opts: opts}
	if err := c.reload(opts.Now()); err != nil {
		return nil, err
	}
	return c, nil
}

// roots returns the current pool, re-reading the file when it changed.
func (c *caFileTLS) roots() *x509.CertPool {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.opts.Now()
	if now.Sub(c.checkedAt) < c.opts.CheckInterval {
		return c.pool
	}
	c.checkedAt = now
	info, err := os.Stat(c.path)
	if err == nil && (!os.SameFile(info, c.info) || !info.ModTime().Equal(c.info.ModTime()) || info.Size() != c.info.Size()) {
		_ = c.reload(now) // a broken update keeps the last good bundle
	}
	return c.pool
}

func (c *caFileTLS) reload(now time.Time) error {
	info, err := os.Stat(c.path)
	if err != nil {
		return fmt.Errorf("CA file: %w", err)
	}
	if info.Size() > maxBundleBytes {
		return fmt.Errorf("CA file %s: larger than %d bytes", c.path, maxBundleBytes)
	}
	pem, err := os.ReadFile(c.path)
	if err != nil {
		return fmt.Errorf("CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("CA file %s: no PEM certificates", c.path)
	}
	c.pool, c.info, c.checkedAt = pool, info, now
	return nil
}

func (c *caFileTLS) current() credentials.TransportCredentials {
	return credentials.NewTLS(&tls.Config{
		RootCAs:    c.roots(),
		ServerName: c.opts.ServerName,
		MinVersion: tls.VersionTLS12,
	})
}

// ClientHandshake verifies the server with the roots current at this handshake.
func (c *caFileTLS) ClientHandshake(ctx context.Context, authority string, conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return c.current().ClientHandshake(ctx, authority, conn)
}

// ServerHandshake is not supported: these are client credentials.
func (c *caFileTLS) ServerHandshake(net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return nil, nil, fmt.Errorf("taskroute CA credentials are client-only")
}

func (c *caFileTLS) Info() credentials.ProtocolInfo { return c.current().Info() }

func (c *caFileTLS) Clone() credentials.TransportCredentials {
	c.mu.Lock()
	defer c.mu.Unlock()
	return &caFileTLS{path: c.path, opts: c.opts, pool: c.pool, info: c.info, checkedAt: c.checkedAt}
}

// OverrideServerName is deprecated in gRPC; kept for the interface.
func (c *caFileTLS) OverrideServerName(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.opts.ServerName = name
	return nil
}
