// Command manager runs taskroute's controllers (WorkerPool, TaskQueue) and the embedded
// matching service.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/taskroute/taskroute/api/v1alpha1"
	"github.com/taskroute/taskroute/controllers"
	"github.com/taskroute/taskroute/internal/metricsauth"
	"github.com/taskroute/taskroute/internal/poolmetrics"
	"github.com/taskroute/taskroute/internal/version"
)

// options are the manager's command-line flags.
type options struct {
	metricsAddr             string
	metricsSecure           bool
	probeAddr               string
	leaderElect             bool
	leaderElectionNamespace string
	leaderElectionID        string
	matchingAddress         string
	statsRefreshInterval    time.Duration
	maxConcurrentReconciles int
	kubeAPIQPS              float64
	kubeAPIBurst            int
	gracefulShutdown        time.Duration
	showVersion             bool

	// reuseControllerNames lets a second manager in the same process register the same
	// controllers (controller-runtime refuses a name twice per process): set only by tests
	// that run the manager more than once (go test -count=2).
	reuseControllerNames bool

	matching matchingOptions
	quota    quotaOptions
	security securityOptions
}

func (o *options) bind(fs *flag.FlagSet) {
	o.matching.bind(fs)
	o.quota.bind(fs)
	o.security.bind(fs)
	fs.StringVar(&o.metricsAddr, "metrics-bind-address", ":8080", "Address the Prometheus metrics endpoint binds to; \"0\" disables it.")
	fs.BoolVar(&o.metricsSecure, "metrics-secure", true, "Serve /metrics over HTTPS (a certificate generated at start) to callers whose bearer token passes TokenReview and whose RBAC allows get on /metrics (SubjectAccessReview); false serves plain HTTP to anyone who reaches the port. --standalone always serves plain HTTP.")
	fs.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "Address the /healthz and /readyz probes bind to.")
	fs.BoolVar(&o.leaderElect, "leader-elect", false, "Elect a leader, so only one of several manager replicas reconciles at a time.")
	fs.StringVar(&o.leaderElectionNamespace, "leader-election-namespace", "", "Namespace of the leader-election Lease; empty means the namespace the manager runs in.")
	fs.StringVar(&o.leaderElectionID, "leader-election-id", "manager.taskroute.dev", "Name of the leader-election Lease.")
	fs.StringVar(&o.matchingAddress, "matching-address", "taskroute-matching.taskroute-system.svc:7233", "host:port of the matching service, written into every worker pod as TASKROUTE_ADDRESS.")
	fs.DurationVar(&o.statsRefreshInterval, "stats-refresh-interval", controllers.DefaultStatsRefreshInterval, "How often queue statistics (backlog, pollers, rates) are copied into TaskQueue and WorkerPool status.")
	fs.IntVar(&o.maxConcurrentReconciles, "max-concurrent-reconciles", 4, "Reconciles each controller runs in parallel.")
	fs.Float64Var(&o.kubeAPIQPS, "kube-api-qps", 50, "Sustained requests per second of the manager's Kubernetes client.")
	fs.IntVar(&o.kubeAPIBurst, "kube-api-burst", 100, "Burst of requests of the manager's Kubernetes client.")
	fs.DurationVar(&o.gracefulShutdown, "graceful-shutdown-timeout", 30*time.Second, "How long the manager waits for controllers and the matching service to stop.")
	fs.BoolVar(&o.showVersion, "version", false, "Print the version and commit, and exit.")
}

func main() {
	opts := &options{}
	opts.bind(flag.CommandLine)
	zapOpts := zap.Options{Development: false}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "Usage: %s [flags]\n\nRuns the taskroute controllers and matching service.\n\nFlags:\n", os.Args[0])
		flag.PrintDefaults()
	}
	flag.Parse()
	if opts.showVersion {
		fmt.Println("manager", version.String())
		return
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	if runStandaloneIfRequested(opts) {
		return
	}

	cfg, err := ctrl.GetConfig()
	if err != nil {
		ctrl.Log.Error(err, "Failed to load kubeconfig")
		os.Exit(1)
	}
	if err := run(ctrl.SetupSignalHandler(), cfg, opts); err != nil {
		ctrl.Log.Error(err, "Manager failed")
		os.Exit(1)
	}
}

// run runs the manager until ctx ends (SIGTERM or SIGINT in main), then stops gracefully.
func run(ctx context.Context, cfg *rest.Config, opts *options) error {
	log := ctrl.Log.WithName("setup")
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = float32(opts.kubeAPIQPS), opts.kubeAPIBurst

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  newScheme(),
		Cache:                   controllers.CacheOptions(),
		Metrics:                 metricsauth.ServerOptions(opts.metricsAddr, opts.metricsSecure),
		HealthProbeBindAddress:  opts.probeAddr,
		LeaderElection:          opts.leaderElect,
		LeaderElectionID:        opts.leaderElectionID,
		LeaderElectionNamespace: opts.leaderElectionNamespace,
		// Release the lease on shutdown so a standby takes over at once.
		LeaderElectionReleaseOnCancel: true,
		GracefulShutdownTimeout:       &opts.gracefulShutdown,
		Controller:                    config.Controller{SkipNameValidation: &opts.reuseControllerNames},
	})
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}

	registry, err := setupMatching(mgr, opts)
	if err != nil {
		return fmt.Errorf("setting up matching service: %w", err)
	}
	if err := controllers.Setup(mgr, controllers.Options{
		Registry:                registry,
		Render:                  opts.security.renderOptions(opts.matchingAddress),
		StatsRefreshInterval:    opts.statsRefreshInterval,
		MaxConcurrentReconciles: opts.maxConcurrentReconciles,
	}); err != nil {
		return err
	}
	// Each pool's share of its queue's backlog, for HPA metrics adapters and dashboards.
	pools := poolmetrics.New(mgr.GetClient(), registry, ctrl.Log.WithName("poolmetrics"))
	if err := ctrlmetrics.Registry.Register(pools); err != nil {
		return fmt.Errorf("registering pool metrics: %w", err)
	}
	defer ctrlmetrics.Registry.Unregister(pools)
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("adding health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return fmt.Errorf("adding ready check: %w", err)
	}

	log.Info("Starting manager", "version", version.String(), "matchingAddress", opts.matchingAddress, "leaderElect", opts.leaderElect)
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("running manager: %w", err)
	}
	return nil
}

// newScheme has the core types and taskroute's types.
func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(v1alpha1.AddToScheme(s))
	return s
}
