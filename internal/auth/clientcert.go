package auth

import (
	"context"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
)

// groupAuthenticated is the group Kubernetes gives every authenticated user; RBAC rules
// may name it, so certificate callers carry it like token callers do.
const groupAuthenticated = "system:authenticated"

// authenticate identifies the caller by its bearer token or, when it sends none, by a
// client certificate the TLS handshake verified against --matching-client-ca-file. The
// second way exists for KEDA, whose external scaler client can send a certificate but
// no token.
func (g *Guard) authenticate(ctx context.Context) (*Caller, error) {
	token := bearerToken(ctx)
	if token == "" {
		if c, ok := certificateCaller(ctx); ok {
			authResults.WithLabelValues("client_certificate").Inc()
			return c, nil
		}
	}
	return g.authenticator.Authenticate(ctx, token)
}

// certificateCaller reads the caller from the verified client certificate of the
// connection, as the kube-apiserver does: the subject's common name is the user, its
// organizations the groups. Such a caller has no namespace of its own, so every
// namespace it reads needs an RBAC grant. ok is false without a verified certificate.
func certificateCaller(ctx context.Context) (*Caller, bool) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil, false
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		return nil, false
	}
	subject := info.State.VerifiedChains[0][0].Subject
	if subject.CommonName == "" {
		return nil, false
	}
	groups := append(append([]string{}, subject.Organization...), groupAuthenticated)
	return &Caller{Username: subject.CommonName, Groups: groups}, true
}
