package auth

import (
	"context"
	"fmt"
	"strings"

	"github.com/go-logr/logr"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Mode selects whether the matching service checks callers.
type Mode int

const (
	// Enforce authenticates and authorizes every call (the default).
	Enforce Mode = iota
	// Disabled lets every call through without a caller. Development only.
	Disabled
)

// ParseMode parses the --matching-auth flag value.
func ParseMode(s string) (Mode, error) {
	switch s {
	case "", "enforce":
		return Enforce, nil
	case "disabled":
		return Disabled, nil
	}
	return Enforce, fmt.Errorf("--matching-auth: want enforce or disabled, got %q", s)
}

func (m Mode) String() string {
	if m == Disabled {
		return "disabled"
	}
	return "enforce"
}

// publicMethods need no token: health checks come from kubelets, which have none.
var publicMethods = map[string]bool{
	"/grpc.health.v1.Health/Check": true,
	"/grpc.health.v1.Health/Watch": true,
	"/grpc.health.v1.Health/List":  true,
}

// Guard is the one authentication and authorization path of the matching service.
type Guard struct {
	mode          Mode
	authenticator *Authenticator
	authorizer    *Authorizer
}

// NewGuard returns the guard for mode. In Enforce mode authenticator and authorizer are
// required; in Disabled mode they are ignored and a loud warning is logged.
func NewGuard(mode Mode, authenticator *Authenticator, authorizer *Authorizer, log logr.Logger) (*Guard, error) {
	if mode == Disabled {
		log.Info("WARNING: matching service authentication and authorization are DISABLED " +
			"(--matching-auth=disabled): any pod that reaches the port can read, add and complete " +
			"tasks of every namespace. Use this only on a development cluster.")
		return &Guard{mode: Disabled}, nil
	}
	if authenticator == nil || authorizer == nil {
		return nil, fmt.Errorf("matching auth: enforce mode needs an authenticator and an authorizer")
	}
	return &Guard{mode: mode, authenticator: authenticator, authorizer: authorizer}, nil
}

// Check authenticates the call in ctx and authorizes req for fullMethod; it returns ctx
// carrying the Caller. Exported so handlers of other transports can share the path.
func (g *Guard) Check(ctx context.Context, fullMethod string, req any) (context.Context, error) {
	if g.mode == Disabled || publicMethods[fullMethod] {
		return ctx, nil
	}
	caller, err := g.authenticate(ctx)
	if err != nil {
		return ctx, err
	}
	ctx = WithCaller(ctx, caller)
	return ctx, g.authorize(ctx, caller, fullMethod, req)
}

func (g *Guard) authorize(ctx context.Context, caller *Caller, fullMethod string, req any) error {
	msg, ok := req.(proto.Message)
	if !ok {
		return status.Errorf(codes.PermissionDenied, "%s: request is not a protobuf message", fullMethod)
	}
	targets, namespaced, err := requestTargets(msg)
	if err != nil {
		return err
	}
	if !namespaced {
		return status.Errorf(codes.PermissionDenied, "%s names no namespace and cannot be authorized", fullMethod)
	}
	if len(targets) == 0 {
		return status.Error(codes.InvalidArgument, "request names no namespace")
	}
	verb := VerbFor(fullMethod)
	for _, t := range targets {
		if err := g.authorizer.Authorize(ctx, caller, verb, t); err != nil {
			return err
		}
	}
	return nil
}

// UnaryServerInterceptor checks every unary call before its handler runs.
func (g *Guard) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, err := g.Check(ctx, info.FullMethod, req)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// StreamServerInterceptor authenticates a stream once when it opens and authorizes every
// message the client sends on it.
func (g *Guard) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if g.mode == Disabled || publicMethods[info.FullMethod] {
			return handler(srv, ss)
		}
		ctx := ss.Context()
		caller, err := g.authenticate(ctx)
		if err != nil {
			return err
		}
		return handler(srv, &guardedStream{ServerStream: ss, ctx: WithCaller(ctx, caller), guard: g, caller: caller, method: info.FullMethod})
	}
}

type guardedStream struct {
	grpc.ServerStream
	ctx    context.Context
	guard  *Guard
	caller *Caller
	method string
}

func (s *guardedStream) Context() context.Context { return s.ctx }

func (s *guardedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	return s.guard.authorize(s.ctx, s.caller, s.method, m)
}

// bearerToken returns the token of the "authorization: Bearer <token>" header, or "".
func bearerToken(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	values := md.Get("authorization")
	if len(values) != 1 {
		return "" // none, or ambiguous
	}
	scheme, token, ok := strings.Cut(values[0], " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}
