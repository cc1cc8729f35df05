package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"

	"github.com/taskroute/taskroute/internal/matching"
	"github.com/taskroute/taskroute/internal/matching/kedascaler"
	"github.com/taskroute/taskroute/internal/storage/pebblestore"
	"github.com/taskroute/taskroute/internal/version"
)

// Config configures a matching Service.
type Config struct {
	// Address to listen on, e.g. ":7233" or "127.0.0.1:0".
	Address string
	// DataDir holds the Pebble database.
	DataDir string
	// Store tunes the Pebble database (memtable and cache sizes); the zero value is fine.
	Store pebblestore.Options
	// TLS serving certificate and key; plaintext when both are empty (and ServerOptions
	// bring no credentials).
	TLSCertFile, TLSKeyFile string
	// ServerOptions are appended to the server's own options: the manager passes its
	// transport credentials (grpc.Creds with a rotating certificate) and the auth
	// interceptors (grpc.ChainUnaryInterceptor / ChainStreamInterceptor) here. Coming after
	// the server's own, they can also replace its fixed flow-control windows (flowcontrol.go).
	ServerOptions []grpc.ServerOption
	// TLSMode names where the serving certificate comes from, for the startup log only.
	TLSMode string
	Limits  Limits
	Engine  matching.Options
	// ScalerRecheck is how often KEDA's StreamIsActive re-reads a backlog (kedascaler);
	// 0 means its default.
	ScalerRecheck time.Duration
	// ShutdownTimeout bounds the graceful stop; 0 means 10s.
	ShutdownTimeout time.Duration
	// Registerer receives the engine's metrics; nil registers nothing.
	Registerer prometheus.Registerer
	Logger     logr.Logger
}

// Service is the matching service: store, engine and gRPC server on one listener. It is a
// controller-runtime Runnable (Start blocks until its context ends, then stops gracefully).
type Service struct {
	cfg    Config
	store  *pebblestore.Store
	engine *matching.Engine
	server *Server
	grpc   *grpc.Server
	lis    net.Listener

	unregister func() // takes the engine's metrics out of the registry again

	stopOnce sync.Once
	served   chan struct{}
	serving  atomic.Bool
}

// Open opens the store, starts the engine and listens, so Addr is known before Start.
// streamWorkers is how many RPCs run on long-lived goroutines at once (beyond that, gRPC
// starts one per call): enough for a few hundred concurrent callers and waiting polls.
const streamWorkers = 256

func Open(cfg Config) (*Service, error) {
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 10 * time.Second
	}
	if cfg.DataDir == "" {
		return nil, fmt.Errorf("matching: a data directory is required")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("matching: creating data directory: %w", err)
	}
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(cfg.Limits.MaxRecvMsgSize() * 4),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		// Long-lived handler goroutines keep their grown stacks; with few workers most calls
		// (long polls hold one each) got a fresh goroutine whose stack grew on every call
		// (runtime.newstack/copystack was 13% of CPU). Idle workers cost only their stacks.
		grpc.NumStreamWorkers(streamWorkers),
	}
	if cfg.TLSCertFile != "" || cfg.TLSKeyFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("matching: loading TLS key pair: %w", err)
		}
		opts = append(opts, grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})))
		if cfg.TLSMode == "" {
			cfg.TLSMode = "files"
		}
	}
	// Before cfg.ServerOptions: its interceptor must run first (see decode.go).
	opts = append(opts, decodingOptions()...)
	opts = append(opts, flowControlOptions()...) // fixed windows: flowcontrol.go
	opts = append(opts, cfg.ServerOptions...)
	if cfg.TLSMode == "" {
		cfg.TLSMode = "disabled"
	}
	store, err := pebblestore.Open(cfg.DataDir, cfg.Store)
	if err != nil {
		return nil, err
	}
	if cfg.Engine.Logger.GetSink() == nil {
		cfg.Engine.Logger = cfg.Logger
	}
	engine, err := matching.New(store, cfg.Engine)
	if err != nil {
		store.Close()
		return nil, err
	}
	unregister := func() {}
	if cfg.Registerer != nil {
		if unregister, err = engine.Register(cfg.Registerer); err != nil {
			engine.Close()
			store.Close()
			return nil, fmt.Errorf("matching: registering metrics: %w", err)
		}
	}
	lis, err := net.Listen("tcp", cfg.Address)
	if err != nil {
		unregister()
		engine.Close()
		store.Close()
		return nil, fmt.Errorf("matching: listening on %s: %w", cfg.Address, err)
	}
	g := grpc.NewServer(opts...)
	srv := New(engine, cfg.Limits)
	srv.Register(g)
	kedascaler.New(engine, kedascaler.Options{Recheck: cfg.ScalerRecheck}).Register(g)
	return &Service{cfg: cfg, store: store, engine: engine, server: srv, grpc: g, lis: lis, unregister: unregister, served: make(chan struct{})}, nil
}

// Addr is the address the service listens on.
func (s *Service) Addr() string { return s.lis.Addr().String() }

// StreamCounts returns the messages the worker streams carried so far (benchmarks, tests).
func (s *Service) StreamCounts() StreamCounts { return s.server.StreamCounts() }

// Engine is the engine (the queueconfig.Registry for the reconcilers).
func (s *Service) Engine() *matching.Engine { return s.engine }

// NeedLeaderElection is false: workers dial every manager replica's service, and the
// store is local to the replica.
func (s *Service) NeedLeaderElection() bool { return false }

// Start serves until ctx ends, then stops gracefully.
func (s *Service) Start(ctx context.Context) error {
	errc := make(chan error, 1)
	s.serving.Store(true)
	go func() {
		defer close(s.served)
		errc <- s.grpc.Serve(s.lis)
	}()
	s.cfg.Logger.Info("Started matching service", "version", version.String(), "address", s.Addr(), "dataDir", s.cfg.DataDir, "tls", s.cfg.TLSMode)
	select {
	case <-ctx.Done():
		s.Stop()
		return nil
	case err := <-errc:
		s.Stop()
		return err
	}
}

// ReadyCheck fails unless the service is serving: between Start and Stop. It has the
// shape of a controller-runtime healthz.Checker.
func (s *Service) ReadyCheck(*http.Request) error {
	if !s.serving.Load() {
		return errors.New("matching service is not serving")
	}
	return nil
}

// Stop returns waiting long polls empty, stops the gRPC server (gracefully within the
// shutdown timeout), commits pending writes and closes the store. Safe to call twice.
func (s *Service) Stop() {
	s.serving.Store(false)
	s.stopOnce.Do(func() {
		s.engine.Close()
		done := make(chan struct{})
		go func() {
			s.grpc.GracefulStop()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(s.cfg.ShutdownTimeout):
			s.grpc.Stop()
			<-done
		}
		s.unregister()
		if err := s.store.Close(); err != nil {
			s.cfg.Logger.Error(err, "Failed to close matching store")
		}
		s.cfg.Logger.Info("Stopped matching service")
	})
}

// Abandon stops serving without closing the store or committing anything more, to
// simulate a crash in tests: the directory is left as a killed process leaves it.
func (s *Service) Abandon() {
	s.serving.Store(false)
	s.stopOnce.Do(func() {
		s.grpc.Stop()
		s.lis.Close()
	})
}
