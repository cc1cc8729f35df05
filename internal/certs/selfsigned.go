package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/taskroute/taskroute/internal/render"
)

// Keys of the CA Secret. The previous CA stays until it expires, so clients that got the
// old bundle keep verifying the server while the new one propagates.
const (
	KeyCACert         = "ca.crt"
	KeyCAKey          = "ca.key"
	KeyPreviousCACert = "previous-ca.crt"
	KeyPreviousCAKey  = "previous-ca.key"
)

// DefaultCASecretName is the Secret (in the manager's namespace) that holds the CA.
const DefaultCASecretName = "taskroute-ca"

// SelfSignedOptions configure SelfSigned. Zero values take the defaults.
type SelfSignedOptions struct {
	// Namespace of the manager, where the CA Secret lives. Required.
	Namespace string
	// SecretName of the CA Secret (DefaultCASecretName).
	SecretName string
	// DNSNames and IPAddresses of the serving certificate: the matching Service's names,
	// e.g. taskroute-matching, taskroute-matching.<ns>, taskroute-matching.<ns>.svc.
	DNSNames    []string
	IPAddresses []net.IP
	// CAValidity (1 year) and ServingValidity (30 days) are certificate lifetimes; each is
	// renewed at RenewFraction (2/3) of its lifetime.
	CAValidity      time.Duration
	ServingValidity time.Duration
	RenewFraction   float64
	// PropagationDelay is how long a new CA is only published before it signs the
	// serving certificate (10 minutes): the kubelet needs up to about a minute plus its
	// cache TTL to update mounted ConfigMaps, and clients re-read the bundle.
	PropagationDelay time.Duration
	// CheckInterval is how often Start checks for due renewals (1 minute).
	CheckInterval time.Duration
	// OnBundleChanged is called (without arguments, from the checking goroutine) when the
	// CA bundle changes, e.g. BundlePublisher.Notify.
	OnBundleChanged func()
	Clock           Clock
	Log             logr.Logger
}

// SelfSigned keeps a self-signed CA in a Secret and a serving certificate issued from it,
// renewing both before they expire. It is a controller-runtime Runnable that every
// replica runs (no leader election): each serves its own certificate from the shared CA.
type SelfSigned struct {
	client client.Client
	reader client.Reader
	opts   SelfSignedOptions

	mu      sync.Mutex // serializes Ensure
	serving atomic.Pointer[servingPair]
	bundle  atomic.Pointer[[]byte]
}

type servingPair struct {
	pair *KeyPair
	tls  *tls.Certificate
}

// NewSelfSigned returns the CA manager. c writes the Secret; reader reads it (pass the
// manager's API reader so the manager does not cache every Secret of the cluster).
func NewSelfSigned(c client.Client, reader client.Reader, opts SelfSignedOptions) (*SelfSigned, error) {
	if opts.Namespace == "" {
		return nil, errors.New("self-signed TLS: the manager namespace is required")
	}
	if len(opts.DNSNames) == 0 && len(opts.IPAddresses) == 0 {
		return nil, errors.New("self-signed TLS: at least one DNS name or IP address is required")
	}
	if opts.SecretName == "" {
		opts.SecretName = DefaultCASecretName
	}
	if opts.CAValidity <= 0 {
		opts.CAValidity = 365 * 24 * time.Hour
	}
	if opts.ServingValidity <= 0 {
		opts.ServingValidity = 30 * 24 * time.Hour
	}
	if opts.RenewFraction <= 0 || opts.RenewFraction >= 1 {
		opts.RenewFraction = 2.0 / 3
	}
	if opts.PropagationDelay <= 0 {
		opts.PropagationDelay = 10 * time.Minute
	}
	if opts.CheckInterval <= 0 {
		opts.CheckInterval = time.Minute
	}
	if opts.ServingValidity > opts.CAValidity {
		return nil, fmt.Errorf("self-signed TLS: serving validity %s exceeds CA validity %s", opts.ServingValidity, opts.CAValidity)
	}
	if opts.Clock == nil {
		opts.Clock = realClock{}
	}
	if reader == nil {
		reader = c
	}
	return &SelfSigned{client: c, reader: reader, opts: opts}, nil
}

// Start implements manager.Runnable: it ensures the certificates at once and then every
// CheckInterval until ctx ends. Failures are logged and retried sooner.
func (s *SelfSigned) Start(ctx context.Context) error {
	delay := time.Duration(0)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
		if err := s.Ensure(ctx); err != nil && ctx.Err() == nil {
			s.opts.Log.Error(err, "Failed to ensure matching TLS certificates")
			delay = 5 * time.Second
			continue
		}
		delay = s.opts.CheckInterval
	}
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: every replica serves.
func (s *SelfSigned) NeedLeaderElection() bool { return false }

// Ready reports whether a serving certificate exists (for a readiness check).
func (s *SelfSigned) Ready() bool { return s.serving.Load() != nil }

// GetCertificate implements Source.
func (s *SelfSigned) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	p := s.serving.Load()
	if p == nil {
		return nil, errors.New("matching serving certificate not issued yet")
	}
	return p.tls, nil
}

// CABundle implements Source: the current CA, and the previous one while it is valid.
func (s *SelfSigned) CABundle() []byte {
	if b := s.bundle.Load(); b != nil {
		return *b
	}
	return nil
}

// Ensure makes the CA Secret and the serving certificate current: it creates the CA when
// missing, rotates it when due, and issues a serving certificate when none exists, it is
// due, or a new CA has propagated long enough to take over signing.
func (s *SelfSigned) Ensure(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Clock.Now()
	ca, previous, err := s.ensureCA(ctx, now)
	if err != nil {
		return err
	}

	signer := ca
	if previous != nil && now.Before(ca.Cert.NotBefore.Add(backdate+s.opts.PropagationDelay)) {
		signer = previous // clients may not trust the new CA yet
	}
	cur := s.serving.Load()
	if cur == nil || !now.Before(RenewAt(cur.pair.Cert, s.opts.RenewFraction)) || cur.pair.Cert.CheckSignatureFrom(signer.Cert) != nil {
		pair, err := IssueServing(signer, s.opts.DNSNames, s.opts.IPAddresses, now, s.opts.ServingValidity)
		if err != nil {
			return err
		}
		tlsCert, err := pair.TLSCertificate()
		if err != nil {
			return err
		}
		s.serving.Store(&servingPair{pair: pair, tls: tlsCert})
		s.opts.Log.Info("Issued matching serving certificate", "dnsNames", s.opts.DNSNames,
			"notAfter", pair.Cert.NotAfter, "issuer", signer.Cert.Subject.CommonName, "serial", pair.Cert.SerialNumber.String())
	}

	bundle := append([]byte{}, ca.CertPEM...)
	if previous != nil {
		bundle = append(bundle, previous.CertPEM...)
	}
	if old := s.CABundle(); !bytes.Equal(old, bundle) {
		s.bundle.Store(&bundle)
		if s.opts.OnBundleChanged != nil {
			s.opts.OnBundleChanged()
		}
	}
	return nil
}

// ensureCA returns the current CA and, while it is valid, the previous one.
func (s *SelfSigned) ensureCA(ctx context.Context, now time.Time) (ca, previous *KeyPair, err error) {
	key := types.NamespacedName{Namespace: s.opts.Namespace, Name: s.opts.SecretName}
	secret := &corev1.Secret{}
	err = s.reader.Get(ctx, key, secret)
	if apierrors.IsNotFound(err) {
		return s.createCA(ctx, key, now)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading CA Secret %s: %w", key, err)
	}
	ca, err = ParseKeyPair(secret.Data[KeyCACert], secret.Data[KeyCAKey])
	if err != nil {
		// Never overwrite: clients trust this CA. A human decides (delete to regenerate).
		return nil, nil, fmt.Errorf("CA Secret %s: %s/%s: %w (delete the Secret to generate a new CA)", key, KeyCACert, KeyCAKey, err)
	}
	if prev, perr := ParseKeyPair(secret.Data[KeyPreviousCACert], secret.Data[KeyPreviousCAKey]); perr == nil && now.Before(prev.Cert.NotAfter) {
		previous = prev
	}
	if now.Before(RenewAt(ca.Cert, s.opts.RenewFraction)) {
		return ca, previous, nil
	}

	next, err := NewCA(caCommonName(s.opts.Namespace), now, s.opts.CAValidity)
	if err != nil {
		return nil, nil, err
	}
	secret.Data = map[string][]byte{
		KeyCACert: next.CertPEM, KeyCAKey: next.KeyPEM,
		KeyPreviousCACert: ca.CertPEM, KeyPreviousCAKey: ca.KeyPEM,
	}
	// Update carries the resourceVersion we read: if another replica rotated first, this
	// conflicts and the next pass picks up its CA.
	if err := s.client.Update(ctx, secret); err != nil {
		return nil, nil, fmt.Errorf("rotating CA Secret %s: %w", key, err)
	}
	s.opts.Log.Info("Rotated matching CA", "secret", key, "notAfter", next.Cert.NotAfter, "previousNotAfter", ca.Cert.NotAfter)
	return next, ca, nil
}

func (s *SelfSigned) createCA(ctx context.Context, key types.NamespacedName, now time.Time) (*KeyPair, *KeyPair, error) {
	ca, err := NewCA(caCommonName(s.opts.Namespace), now, s.opts.CAValidity)
	if err != nil {
		return nil, nil, err
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: key.Name, Namespace: key.Namespace,
			Labels: map[string]string{render.LabelManagedBy: render.ManagedBy},
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{KeyCACert: ca.CertPEM, KeyCAKey: ca.KeyPEM},
	}
	if err := s.client.Create(ctx, secret); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return nil, nil, fmt.Errorf("CA Secret %s was created concurrently; retrying: %w", key, err)
		}
		return nil, nil, fmt.Errorf("creating CA Secret %s: %w", key, err)
	}
	s.opts.Log.Info("Created matching CA", "secret", key, "notAfter", ca.Cert.NotAfter)
	return ca, nil, nil
}

func caCommonName(namespace string) string { return "taskroute-matching-ca." + namespace }

// ServiceDNSNames are the names a Service is reached by inside the cluster.
func ServiceDNSNames(service, namespace string) []string {
	return []string{
		service,
		service + "." + namespace,
		service + "." + namespace + ".svc",
		service + "." + namespace + ".svc.cluster.local",
	}
}
