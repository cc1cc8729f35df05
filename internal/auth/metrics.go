package auth

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

var (
	authResults = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "taskroute_matching_authentications_total",
		Help: "Bearer token checks of the matching service by result (authenticated, unauthenticated, unavailable, expired; _cached when answered from the cache).",
	}, []string{"result"})
	authzResults = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "taskroute_matching_authorizations_total",
		Help: "Namespace access checks of the matching service by result (own_namespace, allowed, denied, error).",
	}, []string{"result"})
)

func init() {
	metrics.Registry.MustRegister(authResults, authzResults)
}
