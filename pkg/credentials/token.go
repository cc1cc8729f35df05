package credentials

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// DefaultTokenFile is where the operator mounts the projected, audience-bound token.
const DefaultTokenFile = "/var/run/secrets/taskroute/token"

// maxTokenBytes bounds what we read from the token file.
const maxTokenBytes = 16 << 10

// TokenFileOptions configure a TokenFile. Zero values take the defaults.
type TokenFileOptions struct {
	// CheckInterval is how often the file is stat'ed for a change (5 seconds); calls in
	// between reuse the token in memory.
	CheckInterval time.Duration
	// MaxAge forces a re-read even when the file looks unchanged (1 minute), in case a
	// rotation kept size and modification time.
	MaxAge time.Duration
	// AllowInsecure lets the token travel without TLS. Development clusters only: the
	// token would be readable by anyone on the path.
	AllowInsecure bool
	// Now is the time source (time.Now).
	Now func() time.Time
}

// TokenFile is a PerRPCCredentials that sends "authorization: Bearer <token>" with the
// token read from a file. The kubelet rotates projected tokens by writing a new timestamped
// directory and swapping the "..data" symlink; os.Stat follows the symlinks, so the swap
// shows as a different file and the token is re-read without a restart.
type TokenFile struct {
	path string
	opts TokenFileOptions

	mu        sync.Mutex
	token     string
	info      os.FileInfo // of the file the token came from
	readAt    time.Time
	checkedAt time.Time
}

// NewTokenFile returns credentials reading path; it reads the token once now, so a missing
// or empty file is reported at startup rather than on the first call.
func NewTokenFile(path string, opts TokenFileOptions) (*TokenFile, error) {
	if opts.CheckInterval <= 0 {
		opts.CheckInterval = 5 * time.Second
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	t := &TokenFile{path: path, opts: opts}
	if err := t.reload(opts.Now()); err != nil {
		return nil, err
	}
	return t, nil
}

// Token returns the current token, re-reading the file when it changed.
func (t *TokenFile) Token() (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.opts.Now()
	if now.Sub(t.checkedAt) < t.opts.CheckInterval {
		return t.token, nil
	}
	t.checkedAt = now
	info, err := os.Stat(t.path)
	changed := err != nil || !os.SameFile(info, t.info) || !info.ModTime().Equal(t.info.ModTime()) || info.Size() != t.info.Size()
	if changed || now.Sub(t.readAt) >= t.opts.MaxAge {
		if rerr := t.reload(now); rerr != nil {
			// Keep sending the token we have: mid-rotation hiccups must not fail calls,
			// and the server rejects the old token once it really expires.
			return t.token, nil
		}
	}
	return t.token, nil
}

func (t *TokenFile) reload(now time.Time) error {
	info, err := os.Stat(t.path)
	if err != nil {
		return fmt.Errorf("token file: %w", err)
	}
	if info.Size() > maxTokenBytes {
		return fmt.Errorf("token file %s: larger than %d bytes", t.path, maxTokenBytes)
	}
	b, err := os.ReadFile(t.path)
	if err != nil {
		return fmt.Errorf("token file: %w", err)
	}
	token := strings.TrimSpace(string(b))
	if token == "" {
		return fmt.Errorf("token file %s: empty", t.path)
	}
	t.token, t.info, t.readAt, t.checkedAt = token, info, now, now
	return nil
}

// GetRequestMetadata implements credentials.PerRPCCredentials.
// gRPC itself refuses to dial without TLS while RequireTransportSecurity is true.
func (t *TokenFile) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	token, err := t.Token()
	if err != nil {
		return nil, err
	}
	return map[string]string{"authorization": "Bearer " + token}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials.
func (t *TokenFile) RequireTransportSecurity() bool { return !t.opts.AllowInsecure }

// StaticToken sends a fixed token, e.g. one minted for the CLI with the TokenRequest API
// (kubectl create token <sa> --audience taskroute.dev/matching).
type StaticToken struct {
	Token         string
	AllowInsecure bool
}

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (s StaticToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + s.Token}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials.
func (s StaticToken) RequireTransportSecurity() bool { return !s.AllowInsecure }
