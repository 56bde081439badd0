package metrics

import "github.com/prometheus/client_golang/prometheus"

// The shared store's collectors. The memory store reports none of them:
// it cannot fail, and it is always current.
var (
	// StoreOps counts the operations on a network store by result.
	StoreOps = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "store_operations_total",
		Help: "Operations on the shared store (redis), by operation and result (ok or error).",
	}, []string{"op", "result"})
	// StoreReconnects counts the store's pub/sub subscriptions
	// established again after their connection was lost.
	StoreReconnects = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "store_pubsub_reconnects_total",
		Help: "Revocation subscriptions re-established after their connection to the store was lost; each is followed by a full resynchronisation.",
	})
	// StoreFallbacks counts what was done without the shared store
	// because it failed, by what (login counters falling back to this
	// instance's own, for example).
	StoreFallbacks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "store_fallbacks_total",
		Help: "Work done without the shared store because it failed, by what fell back (per-instance counters, for example).",
	}, []string{"what"})
	// RevocationsAge is how old the local copy of the revocations is.
	RevocationsAge = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: ns, Subsystem: sub, Name: "revocations_age_seconds",
		Help: "Seconds since the gate's local copy of the revocations was last synchronised in full with the store (0 with a store that is always current).",
	})
)

func init() {
	all = append(all, StoreOps, StoreReconnects, StoreFallbacks, RevocationsAge)
}
