package caddymodule

import (
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are created once per process and registered into every config's
// registry, as Caddy's reverse_proxy does: counters keep counting across
// reloads instead of starting again at zero.
var metrics = struct {
	once          sync.Once
	logins        *prometheus.CounterVec
	apiLatency    *prometheus.HistogramVec
	gate          *prometheus.CounterVec
	tokenRefresh  *prometheus.CounterVec
	rateLimited   *prometheus.CounterVec
	gateAllowed   prometheus.Counter
	gateAnonymous prometheus.Counter
	gateNoToken   prometheus.Counter
	gateBadToken  prometheus.Counter
}{}

func initMetrics() {
	metrics.once.Do(func() {
		const ns, sub = "caddy", "wechat"
		metrics.logins = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "logins_total",
			Help: "wechat_login requests by result (ok or the error code sent to the client) and WeChat errcode.",
		}, []string{"result", "errcode"})
		metrics.apiLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: sub, Name: "api_request_duration_seconds",
			Help:    "Latency of calls to WeChat's server API, by API.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"api"})
		metrics.gate = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "gate_decisions_total",
			Help: "wechat_auth decisions: allowed, anonymous, unauthorized (no token) or invalid_token.",
		}, []string{"result"})
		metrics.tokenRefresh = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "access_token_refreshes_total",
			Help: "access_token fetches from stable_token, by appid.",
		}, []string{"appid"})
		metrics.rateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "rate_limited_total",
			Help: "Requests refused by the edge's own rate limits, by scope (client, app, inflight, decrypt).",
		}, []string{"scope"})
		// The gate runs on every request: resolve its label values once.
		metrics.gateAllowed = metrics.gate.WithLabelValues("allowed")
		metrics.gateAnonymous = metrics.gate.WithLabelValues("anonymous")
		metrics.gateNoToken = metrics.gate.WithLabelValues("unauthorized")
		metrics.gateBadToken = metrics.gate.WithLabelValues("invalid_token")
	})
}

// registerMetrics adds the collectors to this config's registry.
func registerMetrics(reg *prometheus.Registry) error {
	initMetrics()
	if reg == nil {
		return nil
	}
	for _, c := range []prometheus.Collector{metrics.logins, metrics.apiLatency, metrics.gate, metrics.tokenRefresh, metrics.rateLimited} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return err
			}
		}
	}
	return nil
}

// observeAPI records one WeChat call; it is the wechat.Client's hook.
func observeAPI(op string, d time.Duration, _ error) {
	metrics.apiLatency.WithLabelValues(op).Observe(d.Seconds())
}

// loginErrcodes are the errcodes that get their own label value; any
// other is "other", so that a misbehaving api_base cannot grow the label
// set without bound.
var loginErrcodes = map[int]bool{-1: true, 40029: true, 40163: true, 40226: true, 45011: true, 40013: true, 40125: true, 41002: true}

func countLogin(result string, errcode int, hasCode bool) {
	ec := ""
	switch {
	case hasCode && loginErrcodes[errcode]:
		ec = strconv.Itoa(errcode)
	case hasCode:
		ec = "other"
	}
	metrics.logins.WithLabelValues(result, ec).Inc()
}
