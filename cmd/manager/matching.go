package main

import (
	"flag"
	"fmt"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/taskroute/taskroute/internal/matching"
	"github.com/taskroute/taskroute/internal/matching/server"
	"github.com/taskroute/taskroute/internal/queueconfig"
	"github.com/taskroute/taskroute/internal/storage/pebblestore"
)

// matchingOptions are the matching service's flags. They register themselves on the
// default flag set, so main.go only needs the standalone hook.
type matchingOptions struct {
	bindAddress     string
	dataDir         string
	standalone      bool
	maxPayloadBytes int
	maxNameLength   int
	maxHeaderBytes  int
	shutdownTimeout time.Duration
	memTableSize    byteSize
	// unknownTypeMaxAttempts bounds the attempts of a task no worker has registered.
	unknownTypeMaxAttempts int
	// workerLivenessTimeout: a worker without an open poll, poll or heartbeat for this long is gone.
	workerLivenessTimeout time.Duration
}

func (o *matchingOptions) bind(fs *flag.FlagSet) {
	d := server.DefaultLimits()
	fs.StringVar(&o.bindAddress, "matching-bind-address", ":7233", "Address the matching service's gRPC endpoint binds to.")
	fs.StringVar(&o.dataDir, "data-dir", "/var/lib/taskroute", "Directory of the matching service's durable store (Pebble).")
	fs.BoolVar(&o.standalone, "standalone", false, "Run only the matching service, without Kubernetes (no kubeconfig needed), for development; needs --matching-auth=disabled and --matching-tls=disabled or files. Metrics and probes then bind to 127.0.0.1 unless their flags are given.")
	fs.IntVar(&o.maxPayloadBytes, "matching-max-payload-bytes", d.MaxPayloadBytes, "Largest task payload, result or details accepted.")
	fs.IntVar(&o.maxNameLength, "matching-max-name-length", d.MaxNameLength, "Longest task id, task type, worker identity, pool or version accepted.")
	fs.IntVar(&o.maxHeaderBytes, "matching-max-header-bytes", d.MaxHeaderBytes, "Largest total size of a task's headers.")
	fs.DurationVar(&o.shutdownTimeout, "matching-shutdown-timeout", 10*time.Second, "How long in-flight calls may take to finish when the matching service stops.")
	o.memTableSize = byteSize{bytes: pebblestore.DefaultMemTableBytes, min: minMemTableBytes, max: maxMemTableBytes}
	fs.IntVar(&o.unknownTypeMaxAttempts, "matching-unknown-task-type-max-attempts", matching.DefaultUnknownTaskTypeMaxAttempts, "A task whose attempt failed with UnknownTaskType (the worker had not registered its type) ends Failed once it has made this many attempts; 0 or less retries such tasks per their retry policy only.")
	fs.DurationVar(&o.workerLivenessTimeout, "matching-worker-liveness-timeout", 10*time.Second, "A worker with no open poll and no poll or liveness heartbeat for this long is gone: it leaves the pollers list, and tasks routed to its host or process with no other live worker there fail with TargetWorkerLost.")
	fs.Var(&o.memTableSize, "store-memtable-size", "Memtable size of the matching store (1Mi..1Gi). Pebble preallocates each WAL file at 110% of it and keeps up to six (the live one and five for reuse), so WAL files take up to 6.6x this size on disk; larger values flush less often under heavy write load.")
}

// config is the matching server's configuration; sec brings its TLS credentials and the
// auth interceptors.
func (o *matchingOptions) config(sec *matchingSecurity, quota *quotaOptions) server.Config {
	return server.Config{
		Address: o.bindAddress, DataDir: o.dataDir,
		Store:         pebblestore.Options{MemTableBytes: o.memTableSize.bytes},
		ServerOptions: sec.serverOptions, TLSMode: sec.tlsMode,
		Limits:          server.Limits{MaxPayloadBytes: o.maxPayloadBytes, MaxNameLength: o.maxNameLength, MaxHeaderBytes: o.maxHeaderBytes},
		ShutdownTimeout: o.shutdownTimeout,
		Engine:          o.engineOptions(quota),
		Registerer:      ctrlmetrics.Registry,
		Logger:          ctrl.Log.WithName("matching"),
	}
}

// engineOptions are the quota flags' engine options plus the matching flags'.
func (o *matchingOptions) engineOptions(quota *quotaOptions) matching.Options {
	eng := quota.engineOptions()
	eng.UnknownTaskTypeMaxAttempts = int32(o.unknownTypeMaxAttempts)
	eng.WorkerLivenessTimeout = o.workerLivenessTimeout
	if o.unknownTypeMaxAttempts == 0 {
		eng.UnknownTaskTypeMaxAttempts = -1 // 0 attempts cannot be a bound: read it as none
	}
	return eng
}

// setupMatching opens the matching service, adds it to mgr as a Runnable and returns its
// engine as the Registry the reconcilers publish queue configuration to.
func setupMatching(mgr ctrl.Manager, opts *options) (queueconfig.Registry, error) {
	sec, err := opts.security.setupSecurity(mgr, opts.matchingAddress)
	if err != nil {
		return nil, err
	}
	svc, err := server.Open(opts.matching.config(sec, &opts.quota))
	if err != nil {
		return nil, err
	}
	if err := mgr.Add(svc); err != nil {
		svc.Stop()
		return nil, fmt.Errorf("adding matching service to manager: %w", err)
	}
	if err := opts.quota.setupQuotaWatch(mgr, svc.Engine(), opts.security.managerNamespace()); err != nil {
		svc.Stop()
		return nil, err
	}
	return svc.Engine(), nil
}
