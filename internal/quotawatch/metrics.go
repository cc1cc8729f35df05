package quotawatch

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

var configErrors = prometheus.NewCounter(prometheus.CounterOpts{
	Name: "taskroute_quota_config_errors_total",
	Help: "Bad keys or fields found in the quota ConfigMap (each kept its previous value).",
})

func init() { metrics.Registry.MustRegister(configErrors) }
