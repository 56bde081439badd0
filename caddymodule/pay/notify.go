package pay

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-wechat/caddy-wechat/caddymodule/gate"
	"github.com/caddy-wechat/caddy-wechat/internal/metrics"
	"github.com/caddy-wechat/caddy-wechat/internal/reply"
	"github.com/caddy-wechat/caddy-wechat/wechatpay"
)

func init() {
	caddy.RegisterModule(Notify{})
	httpcaddyfile.RegisterHandlerDirective("wechatpay_notify", parseNotify)
}

// defaultNotifyTimeout bounds the backend's handling of one
// notification. WeChat Pay waits 5 seconds for an answer before it counts
// the delivery as failed; answering a little earlier lets it hear our 500
// rather than time out.
const defaultNotifyTimeout = 4 * time.Second

// The headers the backend receives with a forwarded notification. The
// gate strips every spelling of them from client requests, and so does
// this handler before it sets them.
const (
	HeaderEventType    = "X-Wechatpay-Event-Type"
	HeaderEventID      = "X-Wechatpay-Event-Id"
	HeaderResourceType = "X-Wechatpay-Resource-Type"
	HeaderVerified     = "X-Wechatpay-Verified"
)

// maxEnvelopeField bounds the envelope values that become headers; real
// ones are under 40 characters.
const maxEnvelopeField = 128

// Notify receives WeChat Pay's notifications on the public notify_url
// route. It verifies the signature over the raw body (401 otherwise),
// opens the resource with the APIv3 key (400 otherwise), and passes the
// decrypted resource to the next handler (the backend) as the JSON body
// of a POST, with X-Wechatpay-Event-Type, -Event-Id, -Resource-Type and
// X-Wechatpay-Verified: 1. A 2xx from the backend is acknowledged to
// WeChat Pay with 204; anything else, or no answer within Timeout, is a
// 500 {"code":"FAIL"}, and WeChat Pay retries. A notification already
// acknowledged in the last 25 hours is acknowledged again without calling
// the backend, and one whose backend call is under way elsewhere is not
// forwarded twice.
//
// Put it in a route of its own with the proxy to the backend after it,
// and no wechat_auth: WeChat Pay sends no user token, and the gate would
// strip the headers this handler sets.
type Notify struct {
	// MerchantID is the mchid whose APIv3 key opens the notifications.
	// It may be left out when exactly one merchant is configured.
	MerchantID string `json:"merchant,omitempty"`

	// Timeout bounds the backend's handling of one notification.
	// Default: 4s, within WeChat Pay's 5 s.
	Timeout caddy.Duration `json:"timeout,omitempty"`

	app    *App
	m      *Merchant
	marks  *marks
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Notify) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.wechatpay_notify",
		New: func() caddy.Module { return new(Notify) },
	}
}

// Provision finds the wechatpay app, the merchant and the store.
func (h *Notify) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	app, err := FromContext(ctx)
	if err != nil {
		return err
	}
	h.app = app
	if h.m, err = app.pick("wechatpay_notify", caddy.NewReplacer().ReplaceKnown(h.MerchantID, "")); err != nil {
		return err
	}
	if h.Timeout <= 0 {
		h.Timeout = caddy.Duration(defaultNotifyTimeout)
	}
	h.marks = &marks{values: app.values, markTTL: time.Duration(h.Timeout) + markMargin}
	return nil
}

func (h *Notify) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	// First, whatever happens next: no client-supplied X-Wechatpay-*
	// header, in any spelling, in the headers, Connection or trailers.
	gate.Scrub(r)
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return h.answer(w, "", "bad_request", http.StatusMethodNotAllowed, "method_not_allowed", "WeChat Pay notifications are POSTed")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, wechatpay.MaxNotificationBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return h.answer(w, "", "bad_request", http.StatusRequestEntityTooLarge, "request_too_large", "a notification is at most "+strconv.Itoa(wechatpay.MaxNotificationBytes)+" bytes")
		}
		return h.answer(w, "", "bad_request", http.StatusBadRequest, "invalid_request", "the body could not be read")
	}

	n, plain, err := h.open(r, body)
	if err != nil {
		return h.refuse(w, r, err)
	}
	if !headerSafe(n.ID) || !headerSafe(n.EventType) || !headerSafe(n.ResourceType) {
		return h.answer(w, n.EventType, "bad_resource", http.StatusBadRequest, "invalid_notification", "the notification's id, event_type or resource_type cannot be passed on")
	}

	key := notifyKey(h.m.MchID, n.ID)
	got, token, err := h.marks.claim(r.Context(), key)
	switch {
	case err != nil:
		h.logStore("wechatpay_notify cannot reach the store; WeChat Pay will retry", n, err)
		return h.answer(w, n.EventType, "store_failure", http.StatusInternalServerError, "store_failure", "the notification could not be recorded; retry later")
	case got == acknowledged:
		h.debug("wechatpay notification already acknowledged", n)
		metrics.PayNotifications.WithLabelValues(metrics.PayEventLabel(n.EventType), "duplicate").Inc()
		w.WriteHeader(http.StatusNoContent)
		return nil
	case got == stillBusy:
		h.debug("wechatpay notification still being handled elsewhere", n)
		return h.answer(w, n.EventType, "in_progress", http.StatusInternalServerError, "in_progress", "this notification is being handled; retry later")
	}

	status, ferr := h.forward(r, next, n, plain)
	// The marks are written on a context of their own: the client going
	// away must not leave a notification marked in progress, or taken
	// but not acknowledged.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
	defer cancel()
	if ferr != nil || status < 200 || status > 299 {
		if err := h.marks.release(sctx, key, token); err != nil {
			h.logStore("wechatpay_notify could not clear an in-progress mark", n, err)
		}
		if ce := h.logger.Check(zapcore.WarnLevel, "wechatpay notification not taken by the backend; WeChat Pay will retry"); ce != nil {
			fields := []zap.Field{zap.String("mchid", h.m.MchID), zap.String("id", n.ID), zap.String("event_type", n.EventType), zap.Int("backend_status", status)}
			if ferr != nil {
				fields = append(fields, zap.String("error", ferr.Error()))
			}
			ce.Write(fields...)
		}
		return h.answer(w, n.EventType, "backend_failure", http.StatusInternalServerError, "backend_failure", "the backend did not accept the notification; WeChat Pay will retry")
	}
	if err := h.marks.acknowledge(sctx, key); err != nil {
		// The backend has it; a retry, should WeChat Pay send one, would
		// reach the backend again, which must be idempotent anyway.
		h.logStore("wechatpay_notify could not record an acknowledged notification", n, err)
	}
	if ce := h.logger.Check(zapcore.InfoLevel, "wechatpay notification forwarded"); ce != nil {
		ce.Write(zap.String("mchid", h.m.MchID), zap.String("id", n.ID), zap.String("event_type", n.EventType), zap.Int("backend_status", status))
	}
	metrics.PayNotifications.WithLabelValues(metrics.PayEventLabel(n.EventType), "forwarded").Inc()
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// open verifies and decrypts. A serial nobody holds may be a platform
// certificate WeChat Pay has just rotated to: the certificates are
// downloaded again (at most once in a while) and the same bytes verified
// once more.
func (h *Notify) open(r *http.Request, body []byte) (*wechatpay.Notification, []byte, error) {
	now := time.Now()
	n, plain, err := wechatpay.OpenNotification(r.Header, body, h.m.verifier, h.m.apiv3, now)
	if wechatpay.IsUnknownSerial(err) && h.m.refresh(r.Context(), r.Header.Get(wechatpay.HeaderSerial)) {
		n, plain, err = wechatpay.OpenNotification(r.Header, body, h.m.verifier, h.m.apiv3, time.Now())
	}
	return n, plain, err
}

// refuse answers a notification that did not verify (401) or does not
// open (400), and forwards nothing. The log has the serial and the
// reason; never the body, the signature or the key.
func (h *Notify) refuse(w http.ResponseWriter, r *http.Request, err error) error {
	var ve *wechatpay.VerifyError
	if errors.As(err, &ve) {
		_, known := h.m.verifier.Lookup(ve.Serial)
		metrics.PaySignatureFailures.WithLabelValues(metrics.PaySerialLabel(ve.Serial, known), "notification").Inc()
		if ce := h.logger.Check(zapcore.WarnLevel, "wechatpay notification refused: its signature does not verify"); ce != nil {
			ip, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
			ce.Write(zap.String("mchid", h.m.MchID), zap.String("serial", clipLog(ve.Serial)), zap.String("reason", ve.Reason.String()),
				zap.String("header", ve.Header), zap.String("client_ip", ip))
		}
		return h.answer(w, "", "bad_signature", http.StatusUnauthorized, "invalid_signature", "the notification is not signed by a WeChat Pay key of this merchant ("+ve.Reason.String()+")")
	}
	if ce := h.logger.Check(zapcore.WarnLevel, "wechatpay notification refused: signed, but it does not open"); ce != nil {
		ce.Write(zap.String("mchid", h.m.MchID), zap.String("serial", clipLog(r.Header.Get(wechatpay.HeaderSerial))), zap.String("reason", err.Error()))
	}
	return h.answer(w, "", "bad_resource", http.StatusBadRequest, "invalid_notification", "the notification's resource does not open with this merchant's APIv3 key, or the body is not a notification")
}

// forward passes the decrypted resource to the backend and returns the
// status it answered with. Its answer's body is not relayed: WeChat Pay
// gets 204 or 500 from us.
func (h *Notify) forward(r *http.Request, next caddyhttp.Handler, n *wechatpay.Notification, plain []byte) (int, error) {
	ctx, cancel := context.WithTimeout(r.Context(), time.Duration(h.Timeout))
	defer cancel()
	fr := r.WithContext(ctx)
	fr.Body = io.NopCloser(bytes.NewReader(plain))
	fr.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(plain)), nil }
	fr.ContentLength = int64(len(plain))
	fr.TransferEncoding = nil
	hdr := fr.Header
	gate.DropTrailers(fr)
	// The signature covered the encrypted envelope, not this body; the
	// backend's proof is X-Wechatpay-Verified.
	for _, k := range []string{wechatpay.HeaderSerial, wechatpay.HeaderSignature, wechatpay.HeaderTimestamp, wechatpay.HeaderNonce, "Transfer-Encoding", "Content-Encoding"} {
		hdr.Del(k)
	}
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Content-Length", strconv.Itoa(len(plain)))
	hdr.Set(HeaderEventType, n.EventType)
	hdr.Set(HeaderEventID, n.ID)
	hdr.Set(HeaderResourceType, n.ResourceType)
	hdr.Set(HeaderVerified, "1")

	rec := &statusRecorder{header: make(http.Header)}
	err := next.ServeHTTP(rec, fr)
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	if err == nil && rec.status == 0 {
		// Nothing answered: the route has no proxy after this handler.
		// Acknowledging would lose the notification.
		if ce := h.logger.Check(zapcore.ErrorLevel, "wechatpay_notify: no handler answered the forwarded notification; put reverse_proxy to the backend after wechatpay_notify in the same route"); ce != nil {
			ce.Write(zap.String("mchid", h.m.MchID))
		}
		return 0, errors.New("no handler after wechatpay_notify answered")
	}
	return rec.status, err
}

// answer writes the answer WeChat Pay reads on a failure, {"code":"FAIL",
// "message"}, with our own error code beside it as on every endpoint, and
// counts it. It is written here even where the site has handle_errors:
// WeChat Pay is the only client of this route, and a restyled page would
// lose the code and message it reads.
func (h *Notify) answer(w http.ResponseWriter, eventType, outcome string, status int, code, message string) error {
	metrics.PayNotifications.WithLabelValues(metrics.PayEventLabel(eventType), outcome).Inc()
	reply.JSON(w, status, struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Error   string `json:"error"`
	}{"FAIL", message, code})
	return nil
}

func (h *Notify) logStore(msg string, n *wechatpay.Notification, err error) {
	if ce := h.logger.Check(zapcore.ErrorLevel, msg); ce != nil {
		ce.Write(zap.String("mchid", h.m.MchID), zap.String("id", n.ID), zap.String("error", err.Error()))
	}
}

func (h *Notify) debug(msg string, n *wechatpay.Notification) {
	if ce := h.logger.Check(zapcore.DebugLevel, msg); ce != nil {
		ce.Write(zap.String("mchid", h.m.MchID), zap.String("id", n.ID), zap.String("event_type", n.EventType))
	}
}

// headerSafe reports whether an envelope value can go into a header:
// printable ASCII, bounded. Only verified envelopes get here, but a
// header is the wrong place to find out otherwise.
func headerSafe(s string) bool {
	if len(s) > maxEnvelopeField {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// statusRecorder takes the backend's answer to a forwarded notification:
// its status is kept, its body thrown away.
type statusRecorder struct {
	header http.Header
	status int
}

func (s *statusRecorder) Header() http.Header { return s.header }

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 && code >= 200 {
		s.status = code
	}
}

func (s *statusRecorder) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return len(p), nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Notify)(nil)
	_ caddyhttp.MiddlewareHandler = (*Notify)(nil)
	_ http.ResponseWriter         = (*statusRecorder)(nil)
)
