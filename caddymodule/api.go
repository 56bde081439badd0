package caddymodule

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-wechat/caddy-wechat/wechat"
)

func init() {
	caddy.RegisterModule(API{})
}

// maxAPIBody caps what a backend may send through wechat_api. WeChat's
// JSON APIs take a few KB; media uploads are not proxied.
const maxAPIBody = 1 << 20

// API lets trusted backends call any WeChat server API without holding
// the access_token: a request for /<path>?<query> is sent to api_base with
// the app's access_token added, and WeChat's answer is relayed as is. A
// stale token (40001, 40014, 42001) is replaced and the call retried once.
//
// It hands out the power of the app's access_token to whoever can reach
// it. Serve it only on an internal listener (bind 127.0.0.1, or a private
// network): NEVER expose it publicly, and never put it behind wechat_auth
// as if a user's login made it safe.
type API struct {
	// App is the appid whose access_token is used. When empty, the
	// X-Wechat-Appid request header chooses, and may be left out when
	// exactly one app is configured.
	App string `json:"app,omitempty"`

	appID string // App with placeholders expanded

	appRef
}

// CaddyModule returns the Caddy module information.
func (API) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.wechat_api",
		New: func() caddy.Module { return new(API) },
	}
}

// Provision finds the wechat app and checks that App is one of its apps.
func (h *API) Provision(ctx caddy.Context) error {
	if err := h.provisionApp(ctx); err != nil {
		return err
	}
	h.appID = caddy.NewReplacer().ReplaceKnown(h.App, "")
	if h.appID != "" {
		if _, ok := h.app.apps[h.appID]; !ok {
			return fmt.Errorf("wechat_api: app %s is not configured; add it to the wechat global option", h.appID)
		}
	}
	return nil
}

func (h *API) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	appID, aerr := h.pickApp(r)
	if aerr != nil {
		return fail(w, r, aerr)
	}
	body, aerr := readCapped(w, r, maxAPIBody)
	if aerr != nil {
		return fail(w, r, aerr)
	}
	release, ok := h.app.apps[appID].acquire()
	if !ok {
		metrics.rateLimited.WithLabelValues("inflight").Inc()
		w.Header().Set("Retry-After", "1")
		return fail(w, r, &apiError{http.StatusServiceUnavailable, "wechat_busy", "too many calls to WeChat are under way; try again shortly"})
	}
	defer release()
	ctx, cancel := context.WithTimeout(r.Context(), time.Duration(h.app.Timeout))
	defer cancel()

	var ans *apiAnswer
	err := h.app.withAccessToken(ctx, appID, func(token string) error {
		ans.close()
		ans = nil
		a, err := h.send(ctx, r, body, token)
		if err != nil {
			return err
		}
		ans = a
		if code, stale := a.staleToken(); stale {
			// An APIError of kind token makes Do drop this token and
			// retry once; the answer itself is still relayed if the
			// retry fails the same way.
			return &wechat.APIError{Op: "api", Code: code}
		}
		return nil
	})
	if ans == nil {
		// No answer at all: the token fetch or the connection failed.
		logWeChatFailure(h.logger, "wechat_api call failed", appID, err)
		aerr, retryAfter := wechatFailure(err)
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		return fail(w, r, aerr)
	}
	if err != nil {
		logWeChatFailure(h.logger, "wechat_api call failed", appID, err)
	} else if ce := h.logger.Check(zapcore.DebugLevel, "wechat_api call"); ce != nil {
		ce.Write(zap.String("appid", appID), zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.Int("status", ans.status))
	}
	ans.relay(w, h.logger)
	return nil
}

// pickApp chooses the app: the configured one, or the X-Wechat-Appid
// header, or the only app. A header that contradicts the configured app is
// refused rather than ignored, because it shows a backend that is confused
// about which app it acts for.
func (h *API) pickApp(r *http.Request) (string, *apiError) {
	vals := r.Header.Values(hdrAppID)
	if len(vals) > 1 {
		return "", badRequest("send one X-Wechat-Appid header")
	}
	hdr := ""
	if len(vals) == 1 {
		hdr = vals[0]
	}
	switch {
	case h.appID != "":
		if hdr != "" && hdr != h.appID {
			return "", badRequest("this listener is bound to another app than the one X-Wechat-Appid names")
		}
		return h.appID, nil
	case hdr != "":
		if _, ok := h.app.apps[hdr]; !ok {
			return "", badRequest("X-Wechat-Appid names an app that is not configured")
		}
		return hdr, nil
	case len(h.app.Apps) == 1:
		return h.app.Apps[0].AppID, nil
	}
	return "", badRequest("several apps are configured: choose one with the X-Wechat-Appid header")
}

// send makes one call. Only the method, path, query, body and
// Content-Type are passed on: an allowlist, so that the backend's
// Authorization, Cookie or anything else never reaches WeChat. An
// access_token the backend sent is replaced, never forwarded.
func (h *API) send(ctx context.Context, r *http.Request, body []byte, token string) (*apiAnswer, error) {
	q := r.URL.Query()
	q.Del("access_token")
	q.Set("access_token", token)
	path := r.URL.EscapedPath()
	if path == "" || path[0] != '/' {
		path = "/" + path
	}
	var rd io.Reader = http.NoBody
	if len(body) > 0 {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, h.app.apiOrigin()+path+"?"+q.Encode(), rd)
	if err != nil {
		return nil, &wechat.TransportError{Op: "api", Kind: wechat.KindUnreachable, Reason: "the request could not be built"}
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	start := time.Now()
	resp, err := h.app.httpc.Do(req) // no redirects: see App.Provision
	// One label for every path: paths are the backend's choice, and a
	// label per path would let it grow the metric without bound.
	observeAPI("api", time.Since(start), err)
	if err != nil {
		return nil, apiTransportError(err)
	}
	// Small answers are read whole, to look for a stale-token errcode;
	// anything larger (a QR code image, a media file) is not an error
	// answer and is streamed.
	head, err := io.ReadAll(io.LimitReader(resp.Body, wechat.MaxResponseBytes+1))
	if err != nil {
		resp.Body.Close()
		return nil, apiTransportError(err)
	}
	a := &apiAnswer{status: resp.StatusCode, header: resp.Header, token: token}
	if len(head) <= wechat.MaxResponseBytes {
		resp.Body.Close()
		a.whole = head
	} else {
		a.rest, a.length = resp.Body, resp.ContentLength
		a.head = head
	}
	return a, nil
}

// apiTransportError keeps only the cause of a *url.Error: its own text
// holds the full URL, access_token included.
func apiTransportError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	kind := wechat.KindUnreachable
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		kind = wechat.KindTimeout
	}
	return &wechat.TransportError{Op: "api", Kind: kind, Reason: err.Error()}
}

// apiAnswer is WeChat's answer, whole or as a head plus the unread rest.
type apiAnswer struct {
	status int
	header http.Header
	token  string
	whole  []byte
	head   []byte
	rest   io.ReadCloser
	length int64
}

// staleToken reports a JSON answer whose errcode says the token is stale.
func (a *apiAnswer) staleToken() (int, bool) {
	if a.whole == nil {
		return 0, false
	}
	var eb struct {
		ErrCode int `json:"errcode"`
	}
	if json.Unmarshal(a.whole, &eb) != nil {
		return 0, false
	}
	switch eb.ErrCode {
	case wechat.CodeInvalidCredential, wechat.CodeInvalidToken, wechat.CodeTokenExpired:
		return eb.ErrCode, true
	}
	return 0, false
}

func (a *apiAnswer) close() {
	if a != nil && a.rest != nil {
		a.rest.Close()
	}
}

// relayedHeaders are the answer headers a backend needs; the rest
// (cookies, WeChat's internal headers) stays at the edge.
var relayedHeaders = []string{"Content-Type", "Content-Disposition"}

// relay writes the answer with WeChat's status. WeChat does not echo the
// access_token, but a whole answer is scrubbed of it all the same, so that
// a change on WeChat's side cannot leak it to the backend.
func (a *apiAnswer) relay(w http.ResponseWriter, logger *zap.Logger) {
	defer a.close()
	h := w.Header()
	for _, k := range relayedHeaders {
		if v := a.header.Get(k); v != "" {
			h.Set(k, v)
		}
	}
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if a.whole != nil {
		body := a.whole
		if a.token != "" {
			body = bytes.ReplaceAll(body, []byte(a.token), []byte("[redacted]"))
		}
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(a.status)
		_, _ = w.Write(body)
		return
	}
	if a.length >= 0 {
		h.Set("Content-Length", strconv.FormatInt(a.length, 10))
	}
	w.WriteHeader(a.status)
	if _, err := io.Copy(w, io.MultiReader(bytes.NewReader(a.head), a.rest)); err != nil {
		// Headers are gone; all that is left is to note it.
		if ce := logger.Check(zapcore.DebugLevel, "wechat_api answer cut short"); ce != nil {
			ce.Write(zap.String("error", apiTransportError(err).Error()))
		}
	}
}

// Interface guards
var (
	_ caddy.Provisioner           = (*API)(nil)
	_ caddyhttp.MiddlewareHandler = (*API)(nil)
)
