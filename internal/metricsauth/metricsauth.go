// Package metricsauth serves the manager's /metrics endpoint to authorized readers only.
// Queue statistics carry every tenant's namespace and queue names, backlog, rates and
// ages, so with Kubernetes at hand the endpoint speaks HTTPS and asks the kube-apiserver
// about every request: TokenReview for the bearer token, SubjectAccessReview for
// `get` on the non-resource URL /metrics.
package metricsauth

import (
	"crypto/tls"

	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// The filter creates TokenReviews and SubjectAccessReviews for every scrape (cached).
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// ServerOptions are the manager's metrics server options. With secure set, the server
// serves HTTPS (a self-signed certificate generated at start, so scrapers skip
// verification and rely on their token) and refuses requests without a valid token
// (401) or without RBAC allowing `get` on /metrics (403). Without it, plain HTTP, open
// to anyone who reaches the port.
func ServerOptions(bindAddress string, secure bool) metricsserver.Options {
	opts := metricsserver.Options{BindAddress: bindAddress}
	if !secure {
		return opts
	}
	opts.SecureServing = true
	opts.FilterProvider = filters.WithAuthenticationAndAuthorization
	opts.TLSOpts = []func(*tls.Config){http1Only}
	return opts
}

// http1Only turns HTTP/2 off: its stream handling was the path of the "rapid reset"
// and "continuation flood" denials of service (CVE-2023-44487, CVE-2023-45288), and a
// scrape gains nothing from it.
func http1Only(c *tls.Config) {
	c.NextProtos = []string{"http/1.1"}
	c.MinVersion = tls.VersionTLS12
}
