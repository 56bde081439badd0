package metrics

import (
	"errors"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// The WeChat Pay collectors. They live apart from the login ones because
// the wechatpay app can run without the wechat app, and registers them
// itself.
const paySub = "wechatpay"

var (
	// PayCalls counts wechatpay_api calls by API and result.
	PayCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Subsystem: paySub, Name: "api_calls_total",
		Help: "wechatpay_api calls by API (jsapi, query, close, refund, refund_query, bill, bill_download, certificates, other, …) and result (ok, error_answer, bad_signature, timeout, unreachable, refused).",
	}, []string{"api", "result"})
	// PayNotifications counts notifications by event type and outcome.
	PayNotifications = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Subsystem: paySub, Name: "notifications_total",
		Help: "wechatpay_notify notifications by event type (TRANSACTION.* and REFUND.* by name, other, unknown before verification) and outcome (forwarded, duplicate, in_progress, bad_signature, bad_resource, backend_failure, store_failure, bad_request).",
	}, []string{"event_type", "outcome"})
	// PaySignatureFailures counts answers and notifications whose
	// signature was refused, by the serial they named.
	PaySignatureFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Subsystem: paySub, Name: "signature_failures_total",
		Help: "WeChat Pay answers and notifications refused by signature check, by Wechatpay-Serial (a serial we hold, or unknown) and source (answer, notification).",
	}, []string{"serial", "source"})
	// PayCertificateRefreshes counts downloads of platform certificates.
	PayCertificateRefreshes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Subsystem: paySub, Name: "certificate_refreshes_total",
		Help: "Downloads of WeChat Pay platform certificates by merchant and result (ok, failed).",
	}, []string{"mchid", "result"})
)

// payAll are the WeChat Pay collectors, for RegisterPay.
var payAll = []prometheus.Collector{PayCalls, PayNotifications, PaySignatureFailures, PayCertificateRefreshes}

// RegisterPay adds the WeChat Pay collectors to a config's registry.
func RegisterPay(reg *prometheus.Registry) error {
	if reg == nil {
		return nil
	}
	for _, c := range payAll {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return err
			}
		}
	}
	return nil
}

// maxEventLabel bounds an event type used as a label.
const maxEventLabel = 48

// PayEventLabel is the label of a notification's event type: the name
// itself for payment and refund events (TRANSACTION.SUCCESS,
// REFUND.ABNORMAL, …), "other" for any other family, "unknown" when it is
// not known (the notification was refused before it was read). Only
// verified notifications reach here with a name, but the label set is
// bounded all the same.
func PayEventLabel(eventType string) string {
	if eventType == "" {
		return "unknown"
	}
	family, name, ok := strings.Cut(eventType, ".")
	if !ok || (family != "TRANSACTION" && family != "REFUND") || len(eventType) > maxEventLabel || strings.Trim(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_") != "" || name == "" {
		return "other"
	}
	return eventType
}

// PaySerialLabel is the label of a serial in a refused signature: the
// serial when it names a key we hold (known reports that), "unknown"
// otherwise, so that a forger choosing serials cannot grow the label set.
func PaySerialLabel(serial string, known bool) string {
	if serial == "" {
		return "none"
	}
	if !known {
		return "unknown"
	}
	return serial
}
