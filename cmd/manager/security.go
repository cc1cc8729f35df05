package main

import (
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"google.golang.org/grpc"
	grpccreds "google.golang.org/grpc/credentials"
	"k8s.io/client-go/kubernetes"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/taskroute/taskroute/internal/auth"
	"github.com/taskroute/taskroute/internal/certs"
	"github.com/taskroute/taskroute/internal/render"
)

// TLS modes of --matching-tls.
const (
	tlsSelfSigned  = "self-signed"
	tlsCertManager = "cert-manager"
	tlsFiles       = "files"
	tlsDisabled    = "disabled"
)

// podNamespaceEnv is set by the chart from the downward API (metadata.namespace).
const podNamespaceEnv = "POD_NAMESPACE"

// securityOptions are the matching service's authentication and TLS flags.
type securityOptions struct {
	auth          string
	audience      string
	tls           string
	certFile      string
	keyFile       string
	caFile        string
	caValidity    time.Duration
	certValidity  time.Duration
	namespace     string
	serviceName   string
	extraTLSNames string
	clientCAFile  string
}

func (o *securityOptions) bind(fs *flag.FlagSet) {
	fs.StringVar(&o.auth, "matching-auth", "enforce", "Authentication and authorization of matching calls: enforce (ServiceAccount tokens checked with TokenReview, namespaces with SubjectAccessReview) or disabled (development only: every caller may use every namespace).")
	fs.StringVar(&o.audience, "matching-token-audience", auth.DefaultAudience, "Audience the callers' ServiceAccount tokens must be bound to.")
	fs.StringVar(&o.tls, "matching-tls", tlsSelfSigned, "Where the matching port's certificate comes from: self-signed (a CA the manager keeps in Secret taskroute-ca and rotates), cert-manager or files (--matching-tls-cert-file/-key-file/-ca-file, re-read on change), or disabled (plaintext, development only).")
	fs.StringVar(&o.certFile, "matching-tls-cert-file", "", "Serving certificate (PEM) for --matching-tls=cert-manager or files.")
	fs.StringVar(&o.keyFile, "matching-tls-key-file", "", "Serving key (PEM) for --matching-tls=cert-manager or files.")
	fs.StringVar(&o.caFile, "matching-tls-ca-file", "", "CA bundle (PEM) published to worker namespaces as ConfigMap taskroute-ca, for --matching-tls=cert-manager or files.")
	fs.DurationVar(&o.caValidity, "matching-ca-validity", 365*24*time.Hour, "Lifetime of the self-signed CA; renewed at 2/3 of it.")
	fs.DurationVar(&o.certValidity, "matching-cert-validity", 30*24*time.Hour, "Lifetime of the self-signed serving certificate; renewed at 2/3 of it.")
	fs.StringVar(&o.namespace, "namespace", "", "Namespace the manager runs in (holds the CA Secret); default $"+podNamespaceEnv+".")
	fs.StringVar(&o.serviceName, "matching-service-name", "taskroute-matching", "Name of the matching Service; its cluster DNS names go into the self-signed serving certificate.")
	fs.StringVar(&o.clientCAFile, "matching-client-ca-file", "", "CA bundle (PEM) whose client certificates authenticate callers that cannot send a bearer token (KEDA's external scaler): the subject's common name is the user and its organizations the groups, authorized with SubjectAccessReview like other callers. Read at start; needs TLS.")
	fs.StringVar(&o.extraTLSNames, "matching-tls-extra-names", "", "Comma-separated extra DNS names or IP addresses of the self-signed serving certificate (the host of --matching-address is always included).")
}

// renderOptions tells the WorkerPool reconciler what the worker pods need to reach the
// matching service: a token unless auth is disabled, the CA bundle unless TLS is.
func (o *securityOptions) renderOptions(matchingAddress string) render.Options {
	mode, _ := auth.ParseMode(o.auth) // validated before the manager starts
	return render.Options{
		MatchingAddress:   matchingAddress,
		WithoutToken:      mode == auth.Disabled,
		PlaintextMatching: o.tls == tlsDisabled,
	}
}

// managerNamespace is --namespace, else $POD_NAMESPACE.
func (o *securityOptions) managerNamespace() string {
	if o.namespace != "" {
		return o.namespace
	}
	return os.Getenv(podNamespaceEnv)
}

// validate checks the flag values, independent of where the manager runs.
func (o *securityOptions) validate() (auth.Mode, error) {
	mode, err := auth.ParseMode(o.auth)
	if err != nil {
		return mode, err
	}
	switch o.tls {
	case tlsSelfSigned, tlsDisabled:
	case tlsCertManager, tlsFiles:
		if o.certFile == "" || o.keyFile == "" {
			return mode, fmt.Errorf("--matching-tls=%s needs --matching-tls-cert-file and --matching-tls-key-file", o.tls)
		}
	default:
		return mode, fmt.Errorf("--matching-tls: want self-signed, cert-manager, files or disabled, got %q", o.tls)
	}
	if o.clientCAFile != "" && o.tls == tlsDisabled {
		return mode, fmt.Errorf("--matching-client-ca-file needs TLS: client certificates are sent in the TLS handshake")
	}
	return mode, nil
}

// validateStandalone refuses to start the matching service without Kubernetes unless
// the development settings were asked for by name: there is no TokenReview and no
// Secret for a CA there, and silently running open is how a dev setting reaches
// production.
func (o *securityOptions) validateStandalone(fs *flag.FlagSet) error {
	if _, err := o.validate(); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var problems []string
	if !set["matching-auth"] || o.auth != "disabled" {
		problems = append(problems, "--matching-auth=disabled (no TokenReview without Kubernetes)")
	}
	if !set["matching-tls"] || (o.tls != tlsDisabled && o.tls != tlsFiles) {
		problems = append(problems, "--matching-tls=disabled or --matching-tls=files (no CA Secret without Kubernetes)")
	}
	if len(problems) > 0 {
		return fmt.Errorf("--standalone runs without Kubernetes and needs explicit development settings: pass %s", strings.Join(problems, " and "))
	}
	return nil
}

// matchingSecurity is what the matching server and the manager need from the flags.
type matchingSecurity struct {
	serverOptions []grpc.ServerOption
	tlsMode       string
	// source serves the certificate; nil with TLS disabled.
	source certs.Source
	// selfSigned is set in self-signed mode (a Runnable and a readiness gate).
	selfSigned *certs.SelfSigned
}

// tlsServerOptions returns the transport credentials of src, verifying client
// certificates of --matching-client-ca-file when it is set.
func (o *securityOptions) tlsServerOptions(src certs.Source) ([]grpc.ServerOption, error) {
	if src == nil {
		return nil, nil
	}
	var clientCAs *x509.CertPool
	if o.clientCAFile != "" {
		var err error
		if clientCAs, err = certs.LoadClientCAs(o.clientCAFile); err != nil {
			return nil, err
		}
	}
	cfg := certs.WithClientCAs(certs.ServerTLSConfig(src), clientCAs)
	return []grpc.ServerOption{grpc.Creds(grpccreds.NewTLS(cfg))}, nil
}

func guardServerOptions(g *auth.Guard) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(g.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(g.StreamServerInterceptor()),
	}
}

// standaloneSecurity is the development setup of --standalone: no auth, and TLS from
// files or none. validateStandalone has run.
func (o *securityOptions) standaloneSecurity(log logr.Logger) (*matchingSecurity, error) {
	guard, err := auth.NewGuard(auth.Disabled, nil, nil, log)
	if err != nil {
		return nil, err
	}
	sec := &matchingSecurity{tlsMode: o.tls}
	if o.tls == tlsFiles {
		src, err := certs.NewFileSource(o.certFile, o.keyFile, o.caFile, 0)
		if err != nil {
			return nil, err
		}
		sec.source = src
	} else {
		log.Info("WARNING: the matching service serves PLAINTEXT (--matching-tls=disabled); tokens and payloads cross the network unencrypted. Development only.")
	}
	tlsOpts, err := o.tlsServerOptions(sec.source)
	if err != nil {
		return nil, err
	}
	sec.serverOptions = append(tlsOpts, guardServerOptions(guard)...)
	return sec, nil
}

// setupSecurity builds the Guard (TokenReview and SubjectAccessReview against the
// cluster), the serving certificate source and the CA bundle publisher, and adds the
// latter to mgr.
func (o *securityOptions) setupSecurity(mgr ctrl.Manager, matchingAddress string) (*matchingSecurity, error) {
	log := ctrl.Log.WithName("matching-security")
	mode, err := o.validate()
	if err != nil {
		return nil, err
	}
	var guard *auth.Guard
	if mode == auth.Disabled {
		guard, err = auth.NewGuard(mode, nil, nil, log)
	} else {
		kc, kerr := kubernetes.NewForConfig(mgr.GetConfig())
		if kerr != nil {
			return nil, fmt.Errorf("creating Kubernetes client for TokenReview: %w", kerr)
		}
		guard, err = auth.NewGuard(mode,
			auth.NewAuthenticator(kc.AuthenticationV1().TokenReviews(), auth.AuthenticatorOptions{Audience: o.audience, Log: log.WithName("authn")}),
			auth.NewAuthorizer(kc.AuthorizationV1().SubjectAccessReviews(), auth.AuthorizerOptions{Log: log.WithName("authz")}),
			log)
	}
	if err != nil {
		return nil, err
	}

	sec := &matchingSecurity{tlsMode: o.tls}
	pub := certs.NewBundlePublisher(mgr.GetClient(), nil)
	switch o.tls {
	case tlsSelfSigned:
		ns := o.managerNamespace()
		if ns == "" {
			return nil, fmt.Errorf("--matching-tls=self-signed needs the manager namespace: set --namespace or $%s", podNamespaceEnv)
		}
		dnsNames, ips := o.tlsNames(ns, matchingAddress)
		ca, err := certs.NewSelfSigned(mgr.GetClient(), mgr.GetAPIReader(), certs.SelfSignedOptions{
			Namespace: ns, DNSNames: dnsNames, IPAddresses: ips,
			CAValidity: o.caValidity, ServingValidity: o.certValidity,
			OnBundleChanged: pub.Notify, Log: log.WithName("ca"),
		})
		if err != nil {
			return nil, err
		}
		if err := mgr.Add(ca); err != nil {
			return nil, fmt.Errorf("adding CA manager: %w", err)
		}
		sec.source, sec.selfSigned = ca, ca
	case tlsCertManager, tlsFiles:
		src, err := certs.NewFileSource(o.certFile, o.keyFile, o.caFile, 0)
		if err != nil {
			return nil, err
		}
		sec.source = src
	case tlsDisabled:
		log.Info("WARNING: the matching service serves PLAINTEXT (--matching-tls=disabled); tokens and payloads cross the network unencrypted. Development only.")
	}
	if sec.selfSigned != nil || (sec.source != nil && o.caFile != "") {
		pub.Bundle = sec.source.CABundle
		if err := pub.SetupWithManager(mgr); err != nil {
			return nil, fmt.Errorf("setting up CA bundle publisher: %w", err)
		}
	}
	if err := mgr.AddReadyzCheck("matching-tls", sec.readyCheck); err != nil {
		return nil, fmt.Errorf("adding matching TLS ready check: %w", err)
	}
	tlsOpts, err := o.tlsServerOptions(sec.source)
	if err != nil {
		return nil, err
	}
	sec.serverOptions = append(tlsOpts, guardServerOptions(guard)...)
	return sec, nil
}

// readyCheck fails until a serving certificate exists, so no Service routes workers to a
// port whose handshakes would fail.
func (s *matchingSecurity) readyCheck(*http.Request) error {
	if s.selfSigned != nil && !s.selfSigned.Ready() {
		return errors.New("matching serving certificate not issued yet")
	}
	return nil
}

// tlsNames are the serving certificate's names: the Service's cluster names, the host of
// --matching-address (what workers dial and verify) and --matching-tls-extra-names.
func (o *securityOptions) tlsNames(namespace, matchingAddress string) (dnsNames []string, ips []net.IP) {
	seen := map[string]bool{}
	add := func(name string) {
		name = strings.TrimSpace(name)
		if name == "" || seen[name] {
			return
		}
		seen[name] = true
		if ip := net.ParseIP(name); ip != nil {
			ips = append(ips, ip)
		} else {
			dnsNames = append(dnsNames, name)
		}
	}
	for _, n := range certs.ServiceDNSNames(o.serviceName, namespace) {
		add(n)
	}
	if host, _, err := net.SplitHostPort(matchingAddress); err == nil {
		add(host)
	}
	for _, n := range strings.Split(o.extraTLSNames, ",") {
		add(n)
	}
	return dnsNames, ips
}
