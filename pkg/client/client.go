package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/protocodec"
	taskcreds "github.com/taskroute/taskroute/pkg/credentials"
	"github.com/taskroute/taskroute/pkg/workerenv"
)

// DefaultNamespace is used when neither WithNamespace nor TASKROUTE_NAMESPACE is set.
const DefaultNamespace = "default"

// DefaultCallTimeout bounds a call whose context has no deadline.
const DefaultCallTimeout = 30 * time.Second

// Client talks to the matching service. It is safe for concurrent use. Derived clients
// (WithQueue) share the connection of the client they came from.
type Client struct {
	rpc  matchingv1.MatchingServiceClient
	conn *grpc.ClientConn // set when Dial created it, so Close closes it
	// cc is Dial's connection, kept by derived clients: its codec (internal/protocodec)
	// decodes an answer into a reused message, which AddTasks calls it with.
	cc   grpc.ClientConnInterface
	adds *addCoalescer // nil when AddTask calls are not coalesced

	namespace    string
	callTimeout  time.Duration
	defaultQueue string
	headers      map[string]string
}

// Option configures a Client.
type Option func(*options)

type options struct {
	namespace   string
	callTimeout time.Duration
	tlsConfig   *tls.Config
	fromEnv     bool
	dialOptions []grpc.DialOption
	addSenders  int
}

// WithNamespace sets the namespace of every call. Queues are namespaced.
func WithNamespace(ns string) Option { return func(o *options) { o.namespace = ns } }

// WithCallTimeout bounds each call whose context has no deadline of its own; 0 means no
// bound. Waiting calls (WaitForResult) are bounded by their context only.
func WithCallTimeout(d time.Duration) Option { return func(o *options) { o.callTimeout = d } }

// WithTLS makes Dial use TLS with the given configuration (nil means the system roots).
// Without it (and without WithEnvironmentCredentials), Dial connects in plaintext and
// sends no token, which only a development server (--matching-auth=disabled
// --matching-tls=disabled) accepts.
func WithTLS(cfg *tls.Config) Option {
	return func(o *options) {
		if cfg == nil {
			cfg = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		o.tlsConfig = cfg
	}
}

// WithEnvironmentCredentials makes Dial authenticate and verify the server as the worker
// environment says (pkg/credentials.DialOptions): the ServiceAccount token of
// TASKROUTE_TOKEN_FILE on every call, re-read when the kubelet rotates it, and TLS
// verified against TASKROUTE_CA_FILE. Plaintext only with TASKROUTE_INSECURE=true, and
// then without the token unless TASKROUTE_INSECURE_TOKEN=true as well (with a warning).
// It replaces WithTLS.
func WithEnvironmentCredentials() Option { return func(o *options) { o.fromEnv = true } }

// WithAddSenders sets how many calls concurrent AddTask calls share at most at a time
// (DefaultAddSenders); see AddTask. 0 sends every AddTask call on its own.
func WithAddSenders(n int) Option { return func(o *options) { o.addSenders = n } }

// WithDialOptions appends raw gRPC dial options (interceptors, keepalive, ...). They come
// after Dial's own, so they can replace its fixed 1 MiB flow-control windows
// (grpc.WithStaticStreamWindowSize, grpc.WithStaticConnWindowSize).
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(o *options) { o.dialOptions = append(o.dialOptions, opts...) }
}

func buildOptions(opts []Option) options {
	o := options{callTimeout: DefaultCallTimeout, addSenders: DefaultAddSenders}
	for _, opt := range opts {
		opt(&o)
	}
	if o.namespace == "" {
		o.namespace = os.Getenv(workerenv.Namespace)
	}
	if o.namespace == "" {
		o.namespace = DefaultNamespace
	}
	return o
}

// reconnectParams make a lost connection come back within a fraction of a second of the
// service's return (gRPC's default waits 1s, then 1.6s, ... between attempts, during which
// every call fails at once): a worker's heartbeats and results ride out a restart of the
// service instead of missing their deadlines.
var reconnectParams = grpc.ConnectParams{
	Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
	MinConnectTimeout: 5 * time.Second,
}

// Dial connects to the matching service at address (host:port). The connection is made
// lazily; ctx is checked but not kept. Close the Client when done. The connection
// marshals the protocol's messages with generated code instead of protobuf-go's
// reflection (the same bytes on the wire); this codec is the connection's own, not set
// for the process.
func Dial(ctx context.Context, address string, opts ...Option) (*Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if address == "" {
		return nil, status.Error(codes.InvalidArgument, "address: must not be empty")
	}
	o := buildOptions(opts)
	creds := insecure.NewCredentials()
	if o.tlsConfig != nil {
		creds = credentials.NewTLS(o.tlsConfig)
	}
	dialOpts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithConnectParams(reconnectParams),
		// Results and payloads may be large; the server enforces its own limits. The
		// codec marshals without reflection (same bytes on the wire); it is this
		// connection's only, not registered for the process.
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20), grpc.ForceCodecV2(protocodec.New())),
		grpc.WithChainUnaryInterceptor(checkUTF8),
	}
	if o.fromEnv {
		// Later transport credentials replace the ones above.
		envOpts, err := taskcreds.DialOptions()
		if err != nil {
			return nil, fmt.Errorf("matching service credentials: %w", err)
		}
		dialOpts = append(dialOpts, envOpts...)
	}
	// Fixed flow-control windows (flowcontrol.go), before the caller's options.
	dialOpts = append(dialOpts, flowControlOptions()...)
	dialOpts = append(dialOpts, o.dialOptions...)
	conn, err := grpc.NewClient(address, dialOpts...)
	if err != nil {
		return nil, err
	}
	c := newClient(matchingv1.NewMatchingServiceClient(conn), o)
	c.conn, c.cc = conn, conn
	return c, nil
}

// FromEnvironment dials the matching service the way the operator configures worker pods:
// TASKROUTE_ADDRESS, TASKROUTE_NAMESPACE and the credentials of WithEnvironmentCredentials
// (token file, CA file; plaintext only with TASKROUTE_INSECURE=true). CLIs and services
// outside the cluster set the same variables, with a token from the TokenRequest API.
func FromEnvironment(ctx context.Context, opts ...Option) (*Client, error) {
	address := os.Getenv(workerenv.Address)
	if address == "" {
		return nil, fmt.Errorf("%s must be set", workerenv.Address)
	}
	return Dial(ctx, address, append([]Option{WithEnvironmentCredentials()}, opts...)...)
}

// New wraps an existing connection (for example one shared with other services, or one
// made with custom credentials); its codec is the connection's (gRPC's proto codec unless
// the caller set another). Close does not close conn.
func New(conn grpc.ClientConnInterface, opts ...Option) *Client {
	return newClient(matchingv1.NewMatchingServiceClient(conn), buildOptions(opts))
}

// NewFromService wraps a generated service client; useful in tests with a fake.
func NewFromService(rpc matchingv1.MatchingServiceClient, opts ...Option) *Client {
	return newClient(rpc, buildOptions(opts))
}

func newClient(rpc matchingv1.MatchingServiceClient, o options) *Client {
	return &Client{rpc: rpc, adds: newAddCoalescer(rpc, o.addSenders), namespace: o.namespace, callTimeout: o.callTimeout}
}

// Close closes the connection if Dial made it.
func (c *Client) Close() error {
	if c.conn == nil {
		return nil
	}
	return c.conn.Close()
}

// Namespace is the namespace of every call of this Client.
func (c *Client) Namespace() string { return c.namespace }

// DefaultQueue is the queue used by AddTask when a task names none ("" unless derived with
// WithQueue).
func (c *Client) DefaultQueue() string { return c.defaultQueue }

// Service exposes the generated gRPC client for calls the SDK does not wrap.
func (c *Client) Service() matchingv1.MatchingServiceClient { return c.rpc }

// WithQueue returns a Client sharing this one's connection whose tasks default to queue
// and carry headers (merged under the task's own). Tasks scheduled from inside a running
// task use this, so they inherit the task's queue. Closing the derived Client does nothing.
func (c *Client) WithQueue(queue string, headers map[string]string) *Client {
	d := *c
	d.conn = nil
	d.defaultQueue = queue
	d.headers = headers
	return &d
}

// callContext applies the call timeout when ctx has no deadline.
func (c *Client) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok || c.callTimeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, c.callTimeout)
}

// IsRetryable tells whether err is a transient failure of the transport or the service
// (Unavailable, Aborted, a deadline of the call itself, or ResourceExhausted carrying a
// retry delay: a quota that refills), after which repeating an idempotent call may
// succeed. ResourceExhausted without a retry delay (a payload over the quota, a batch
// over the add burst, a message too large) does not fix itself. AddTask and AddTasks
// already retry within their deadline.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.Canceled) {
		return false
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.Aborted, codes.DeadlineExceeded:
		return true
	case codes.ResourceExhausted:
		_, ok := retryAfter(err)
		return ok
	}
	return false
}

func invalid(field, msg string) error {
	return status.Errorf(codes.InvalidArgument, "%s: %s", field, msg)
}
