package pay

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-wechat/caddy-wechat/caddymodule"
	"github.com/caddy-wechat/caddy-wechat/internal/metrics"
	"github.com/caddy-wechat/caddy-wechat/internal/reply"
	"github.com/caddy-wechat/caddy-wechat/wechatpay"
)

func init() {
	caddy.RegisterModule(API{})
	httpcaddyfile.RegisterHandlerDirective("wechatpay_api", parseAPI)
}

// maxAPIBody caps what a backend may send through wechatpay_api. WeChat
// Pay's JSON requests are a few KB.
const maxAPIBody = 1 << 20

// API lets the shop's backends call WeChat Pay API v3 without holding
// the merchant key: a request for /v3/… is sent to api_base as the
// merchant, with mchid (and appid and notify_url where they belong)
// filled in and the exact bytes sent signed, and WeChat Pay's answer is
// relayed only once its signature has been verified. A JSAPI prepay's
// answer gains request_payment, the signed arguments of
// wx.requestPayment.
//
// It hands out the power of the merchant key (payments, refunds, bills)
// to whoever can reach it, so it refuses clients outside loopback and the
// private ranges (and AllowFrom), and requests that carry a user's login.
// Serve it only on an internal listener all the same: NEVER expose it
// publicly.
type API struct {
	// MerchantID is the mchid whose key signs the calls. It may be left
	// out when exactly one merchant is configured.
	MerchantID string `json:"merchant,omitempty"`

	// AllowFrom adds client ranges (CIDRs, or single addresses) to the
	// ones always allowed: loopback and the private ranges. The client is
	// {client_ip}, so trusted_proxies is honoured. To narrow the default
	// instead, put a remote_ip or client_ip matcher on the route.
	AllowFrom []string `json:"allow_from,omitempty"`

	app    *App
	m      *Merchant
	allow  []netip.Prefix
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (API) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.wechatpay_api",
		New: func() caddy.Module { return new(API) },
	}
}

// Provision finds the wechatpay app and the merchant.
func (h *API) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	app, err := FromContext(ctx)
	if err != nil {
		return err
	}
	h.app = app
	if h.m, err = app.pick("wechatpay_api", caddy.NewReplacer().ReplaceKnown(h.MerchantID, "")); err != nil {
		return err
	}
	for _, s := range h.AllowFrom {
		p, err := parsePrefix(s)
		if err != nil {
			return errors.New("wechatpay_api: allow_from " + strconv.Quote(s) + ": " + err.Error())
		}
		h.allow = append(h.allow, p)
	}
	return nil
}

func (h *API) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	if caddymodule.IdentityFrom(r.Context()) != nil {
		// A user's login must never open the merchant's powers.
		return h.fail(w, r, "none", "refused", &reply.Error{Status: http.StatusForbidden, Code: "forbidden", Message: "wechatpay_api acts as the merchant and is for trusted backends: a user's token does not open it; do not put wechat_auth in front of it"})
	}
	if !allowed(r, h.allow) {
		if ce := h.logger.Check(zapcore.WarnLevel, "wechatpay_api refused a client outside loopback, the private ranges and allow_from"); ce != nil {
			ip, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
			ce.Write(zap.String("client_ip", ip))
		}
		return h.fail(w, r, "none", "refused", &reply.Error{Status: http.StatusForbidden, Code: "forbidden", Message: "wechatpay_api serves loopback, private networks and the ranges in allow_from only"})
	}
	switch r.Method {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		w.Header().Set("Allow", "GET, POST, PUT, PATCH, DELETE")
		return h.fail(w, r, "none", "refused", &reply.Error{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed", Message: "WeChat Pay API v3 takes GET, POST, PUT, PATCH and DELETE"})
	}
	path := r.URL.EscapedPath()
	if !strings.HasPrefix(path, "/v3/") || hasDotSegment(path) {
		return h.fail(w, r, "none", "refused", reply.BadRequest("wechatpay_api relays WeChat Pay API v3: the path must start with /v3/, as on api.mch.weixin.qq.com"))
	}
	ep := classify(r.Method, path)
	body, rerr := reply.Read(w, r, maxAPIBody)
	if rerr != nil {
		return h.fail(w, r, ep.api, "refused", rerr)
	}
	appID := ""
	if ep.needsObject() {
		if body, appID, rerr = fillBody(body, h.m, ep); rerr != nil {
			return h.fail(w, r, ep.api, "refused", rerr)
		}
	}
	query := r.URL.RawQuery
	if ep.queryMchID {
		if query, rerr = fillQuery(query, h.m); rerr != nil {
			return h.fail(w, r, ep.api, "refused", rerr)
		}
	}
	pathQuery := path
	if query != "" {
		pathQuery += "?" + query
	}

	ctx, cancel := context.WithTimeout(r.Context(), time.Duration(h.app.Timeout))
	defer cancel()
	client := h.app.client(h.m)
	var resp *wechatpay.Response
	var err error
	if ep.unsigned {
		resp, err = client.DownloadBill(ctx, strings.TrimRight(h.app.baseURL(), "/")+pathQuery)
	} else {
		resp, err = client.Do(ctx, r.Method, pathQuery, body)
	}
	if err != nil {
		return h.callFailed(w, r, ep, err)
	}

	answer := resp.Body
	if ep.jsapi && resp.StatusCode == http.StatusOK {
		withParams, added, err := addRequestPayment(answer, h.m, appID)
		if err != nil {
			// Only a bad appid or prepay_id gets here; WeChat Pay took
			// the first and sent the second, so this is its answer's
			// fault, and the prepay itself stands.
			if ce := h.logger.Check(zapcore.WarnLevel, "wechatpay_api could not sign request_payment"); ce != nil {
				ce.Write(zap.String("mchid", h.m.MchID), zap.String("error", err.Error()))
			}
			return h.fail(w, r, ep.api, "error_answer", &reply.Error{Status: http.StatusBadGateway, Code: "wechatpay_error", Message: "WeChat Pay's prepay answer cannot be turned into wx.requestPayment arguments"})
		}
		if added {
			answer = withParams
		}
	}
	result := "ok"
	if resp.StatusCode >= 300 {
		result = "error_answer"
	}
	metrics.PayCalls.WithLabelValues(ep.api, result).Inc()
	if ce := h.logger.Check(zapcore.DebugLevel, "wechatpay_api call"); ce != nil {
		ce.Write(zap.String("mchid", h.m.MchID), zap.String("api", ep.api), zap.String("method", r.Method), zap.String("path", r.URL.Path),
			zap.Int("status", resp.StatusCode), zap.String("request_id", resp.Header.Get("Request-ID")))
	}
	relay(w, resp, answer)
	return nil
}

// relay writes WeChat Pay's verified answer (or the bill file) with its
// status and the headers a backend can use.
func relay(w http.ResponseWriter, resp *wechatpay.Response, body []byte) {
	hdr := w.Header()
	for _, k := range []string{"Content-Type", "Request-ID", "Content-Disposition"} {
		if v := resp.Header.Get(k); v != "" {
			hdr.Set(k, v)
		}
	}
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	if resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusNotModified {
		w.WriteHeader(resp.StatusCode)
		return
	}
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(body)
}

// callFailed maps a call that gave no usable answer. An answer whose
// signature fails is a 502 and its body is never relayed: it could come
// from anyone on the path.
func (h *API) callFailed(w http.ResponseWriter, r *http.Request, ep endpoint, err error) error {
	var rse *wechatpay.ResponseSignatureError
	var te *wechatpay.TransportError
	var se *wechatpay.StatusError
	switch {
	case errors.As(err, &rse):
		serial := rse.Err.Serial
		_, known := h.m.verifier.Lookup(serial)
		metrics.PaySignatureFailures.WithLabelValues(metrics.PaySerialLabel(serial, known), "answer").Inc()
		if ce := h.logger.Check(zapcore.WarnLevel, "wechatpay_api answer refused: its signature does not verify"); ce != nil {
			ce.Write(zap.String("mchid", h.m.MchID), zap.String("api", ep.api), zap.Int("status", rse.StatusCode),
				zap.String("serial", clipLog(serial)), zap.String("reason", rse.Err.Reason.String()))
		}
		return h.fail(w, r, ep.api, "bad_signature", &reply.Error{Status: http.StatusBadGateway, Code: "wechatpay_signature",
			Message: "WeChat Pay's answer (HTTP " + strconv.Itoa(rse.StatusCode) + ") is not signed by a WeChat Pay key this edge holds (" + rse.Err.Reason.String() + "), so it is not relayed"})
	case errors.As(err, &te) && te.Timeout:
		h.logCall(ep, err)
		return h.fail(w, r, ep.api, "timeout", &reply.Error{Status: http.StatusGatewayTimeout, Code: "wechatpay_timeout", Message: "WeChat Pay did not answer in time"})
	case errors.As(err, &se):
		// A bill download answered with another status: WeChat Pay's
		// refusal of the download (an expired token, say).
		h.logCall(ep, err)
		status := http.StatusBadGateway
		if se.StatusCode >= 400 && se.StatusCode < 500 {
			status = se.StatusCode
		}
		return h.fail(w, r, ep.api, "error_answer", &reply.Error{Status: status, Code: "wechatpay_error", Message: "WeChat Pay answered the bill download with HTTP " + strconv.Itoa(se.StatusCode)})
	case errors.As(err, &te):
		h.logCall(ep, err)
		return h.fail(w, r, ep.api, "unreachable", &reply.Error{Status: http.StatusBadGateway, Code: "wechatpay_error", Message: "WeChat Pay could not be reached"})
	}
	h.logCall(ep, err)
	return h.fail(w, r, ep.api, "unreachable", &reply.Error{Status: http.StatusBadGateway, Code: "wechatpay_error", Message: "the call to WeChat Pay failed"})
}

func (h *API) logCall(ep endpoint, err error) {
	if ce := h.logger.Check(zapcore.WarnLevel, "wechatpay_api call failed"); ce != nil {
		ce.Write(zap.String("mchid", h.m.MchID), zap.String("api", ep.api), zap.String("error", err.Error()))
	}
}

// fail counts and sends an error. result "refused" means the request
// was refused before anything was sent.
func (h *API) fail(w http.ResponseWriter, r *http.Request, api, result string, e *reply.Error) error {
	metrics.PayCalls.WithLabelValues(api, result).Inc()
	return reply.Fail(w, r, e)
}

// hasDotSegment reports whether a path holds a "." or ".." segment, which
// a server would resolve into another path than the one signed.
func hasDotSegment(p string) bool {
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "." || seg == ".." || strings.EqualFold(seg, "%2e") || strings.EqualFold(seg, "%2e%2e") || strings.EqualFold(seg, ".%2e") || strings.EqualFold(seg, "%2e.") {
			return true
		}
	}
	return false
}

// clipLog cuts a remote-chosen value for a log field.
func clipLog(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// Interface guards
var (
	_ caddy.Provisioner           = (*API)(nil)
	_ caddyhttp.MiddlewareHandler = (*API)(nil)
)
