// Package metrics holds the plugin's Prometheus collectors. They are
// created once per process and registered into every config's registry, as
// Caddy's reverse_proxy does: counters keep counting across reloads instead
// of starting again at zero.
package metrics

import (
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

const ns, sub = "caddy", "wechat"

var (
	// Logins counts wechat_login requests by result and WeChat errcode.
	Logins = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "logins_total",
		Help: "wechat_login requests by result (ok or the error code sent to the client) and WeChat errcode.",
	}, []string{"result", "errcode"})
	// APILatency is the latency of calls to WeChat by API.
	APILatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: ns, Subsystem: sub, Name: "api_request_duration_seconds",
		Help:    "Latency of calls to WeChat's server API, by API.",
		Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"api"})
	// Gate counts the gate's decisions.
	Gate = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "gate_decisions_total",
		Help: "wechat_auth decisions: allowed, anonymous, unauthorized (no token) or invalid_token.",
	}, []string{"result"})
	// TokenRefresh counts access_token fetches by appid.
	TokenRefresh = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "access_token_refreshes_total",
		Help: "access_token fetches from stable_token, by appid.",
	}, []string{"appid"})
	// RateLimited counts requests refused by the edge's own limits.
	RateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "rate_limited_total",
		Help: "Requests refused by the edge's own rate limits, by scope (client, app, inflight, decrypt).",
	}, []string{"scope"})

	// Renewals counts tokens renewed by the gate.
	Renewals = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "renewals_total",
		Help: "Tokens the gate renewed (one mint per token, however many requests carried it).",
	})
	// Logouts counts sessions ended by wechat_logout.
	Logouts = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "logouts_total",
		Help: "Sessions ended by wechat_logout.",
	})
	// Tickets counts web-view tickets by event.
	Tickets = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "tickets_total",
		Help: "Web-view tickets by event: minted, redeemed, refused (unknown, used or expired).",
	}, []string{"event"})
	// CSRFRejected counts cookie requests refused as cross-site.
	CSRFRejected = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "csrf_rejected_total",
		Help: "Cookie-authenticated requests refused as cross-site request forgeries.",
	})
	// Revocations is the size of the local copy of the revocations.
	Revocations = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: ns, Subsystem: sub, Name: "revocations",
		Help: "Revoked sessions and users in the gate's local copy.",
	})

	// The gate runs on every request: its label values are resolved once.
	GateAllowed   = Gate.WithLabelValues("allowed")
	GateAnonymous = Gate.WithLabelValues("anonymous")
	GateNoToken   = Gate.WithLabelValues("unauthorized")
	GateBadToken  = Gate.WithLabelValues("invalid_token")
	// Inflight is RateLimited for max_inflight.
	Inflight = RateLimited.WithLabelValues("inflight")
	// The events of Tickets.
	TicketsMinted   = Tickets.WithLabelValues("minted")
	TicketsRedeemed = Tickets.WithLabelValues("redeemed")
	TicketsRefused  = Tickets.WithLabelValues("refused")
)

// all are every collector, for Register.
var all = []prometheus.Collector{Logins, APILatency, Gate, TokenRefresh, RateLimited, Renewals, Logouts, Tickets, CSRFRejected, Revocations}

// Register adds the collectors to a config's registry.
func Register(reg *prometheus.Registry) error {
	if reg == nil {
		return nil
	}
	for _, c := range all {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return err
			}
		}
	}
	return nil
}

// ObserveAPI records one WeChat call; it is the wechat.Client's hook.
func ObserveAPI(op string, d time.Duration, _ error) {
	APILatency.WithLabelValues(op).Observe(d.Seconds())
}

// loginErrcodes are the errcodes that get their own label value; any
// other is "other", so that a misbehaving api_base cannot grow the label
// set without bound.
var loginErrcodes = map[int]bool{-1: true, 40029: true, 40163: true, 40226: true, 45011: true, 40013: true, 40125: true, 41002: true}

// CountLogin counts one login by the error code sent (or "ok") and
// WeChat's errcode when there was one.
func CountLogin(result string, errcode int, hasCode bool) {
	ec := ""
	switch {
	case hasCode && loginErrcodes[errcode]:
		ec = strconv.Itoa(errcode)
	case hasCode:
		ec = "other"
	}
	Logins.WithLabelValues(result, ec).Inc()
}
