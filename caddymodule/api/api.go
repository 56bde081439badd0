// Package api is wechat_api: trusted backends call any WeChat server API
// through it without holding the access_token.
package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-wechat/caddy-wechat/caddymodule"
	"github.com/caddy-wechat/caddy-wechat/internal/reply"
	"github.com/caddy-wechat/caddy-wechat/wechat"
)

func init() {
	caddy.RegisterModule(API{})
	httpcaddyfile.RegisterHandlerDirective("wechat_api", parseAPI)
}

// maxAPIBody caps what a backend may send through wechat_api. WeChat's
// JSON APIs take a few KB; media uploads are not proxied.
const maxAPIBody = 1 << 20

// API lets trusted backends call any WeChat server API without holding
// the access_token: a request for /<path>?<query> is sent to api_base with
// the app's access_token added, and WeChat's answer is relayed, with the
// token scrubbed from it. A stale token (40001, 40014, 42001) is replaced
// and the call retried once.
//
// It hands out the power of the app's access_token to whoever can reach
// it, so it refuses clients outside loopback and the private ranges (and
// AllowFrom), and requests that carry a user's login. Serve it only on an
// internal listener all the same: NEVER expose it publicly.
type API struct {
	// AppID is the appid whose access_token is used. When empty, the
	// X-Wechat-Appid request header chooses, and may be left out when
	// exactly one app is configured.
	AppID string `json:"app,omitempty"`

	// AllowFrom adds client ranges (CIDRs, or single addresses) to the
	// ones always allowed: loopback and the private ranges (10/8,
	// 172.16/12, 192.168/16, fc00::/7). The client is {client_ip}, so
	// trusted_proxies is honoured. To narrow the default instead, put a
	// remote_ip matcher on the route.
	AllowFrom []string `json:"allow_from,omitempty"`

	appID string // AppID with placeholders expanded
	allow []netip.Prefix

	caddymodule.AppRef
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
	if err := h.ProvisionApp(ctx); err != nil {
		return err
	}
	h.appID = caddy.NewReplacer().ReplaceKnown(h.AppID, "")
	if h.appID != "" {
		if !h.App.Configured(h.appID) {
			return fmt.Errorf("wechat_api: app %s is not configured; add it to the wechat global option", h.appID)
		}
	}
	for _, s := range h.AllowFrom {
		p, err := parsePrefix(s)
		if err != nil {
			return fmt.Errorf("wechat_api: allow_from %q: %v", s, err)
		}
		h.allow = append(h.allow, p)
	}
	return nil
}

func (h *API) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	if caddymodule.IdentityFrom(r.Context()) != nil {
		// A user's login must never open the app's powers.
		return reply.Fail(w, r, &reply.Error{Status: http.StatusForbidden, Code: "forbidden", Message: "wechat_api acts as the Mini Program itself and is for trusted backends: a user's token does not open it; do not put wechat_auth in front of it"})
	}
	if !h.allowed(r) {
		if ce := h.Logger.Check(zapcore.WarnLevel, "wechat_api refused a client outside loopback, the private ranges and allow_from"); ce != nil {
			ip, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
			ce.Write(zap.String("client_ip", ip))
		}
		return reply.Fail(w, r, &reply.Error{Status: http.StatusForbidden, Code: "forbidden", Message: "wechat_api serves loopback, private networks and the ranges in allow_from only"})
	}
	appID, aerr := h.pickApp(r)
	if aerr != nil {
		return reply.Fail(w, r, aerr)
	}
	body, aerr := reply.Read(w, r, maxAPIBody)
	if aerr != nil {
		return reply.Fail(w, r, aerr)
	}
	mp, _ := h.App.Program(appID)
	release, ok := mp.Acquire()
	if !ok {
		return reply.Fail(w, r, reply.WeChatFailure(reply.ErrSaturated))
	}
	defer release()
	ctx, cancel := context.WithTimeout(r.Context(), h.App.CallTimeout())
	defer cancel()

	call := wechat.RelayRequest{
		Method:      r.Method,
		Path:        r.URL.EscapedPath(),
		Query:       r.URL.Query(),
		ContentType: r.Header.Get("Content-Type"),
		Body:        body,
	}
	var ans *wechat.Relayed
	err := h.App.WithAccessToken(ctx, appID, func(accessToken string) error {
		ans.Close()
		ans = nil
		a, err := h.App.Client().Relay(ctx, accessToken, call)
		if err != nil {
			return err
		}
		ans = a
		// A stale-token error makes Do drop this token and retry once;
		// the answer itself is still relayed if the retry fails the same
		// way.
		return a.StaleToken()
	})
	if ans == nil {
		// No answer at all: the token fetch or the connection failed.
		reply.LogWeChatFailure(h.Logger, "wechat_api call failed", appID, err)
		return reply.Fail(w, r, reply.WeChatFailure(err))
	}
	if err != nil {
		reply.LogWeChatFailure(h.Logger, "wechat_api call failed", appID, err)
	} else if ce := h.Logger.Check(zapcore.DebugLevel, "wechat_api call"); ce != nil {
		ce.Write(zap.String("appid", appID), zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.Int("status", ans.Status))
	}
	h.relay(w, ans)
	return nil
}

// pickApp chooses the app: the configured one, or the X-Wechat-Appid
// header, or the only app. A header that contradicts the configured app is
// refused rather than ignored, because it shows a backend that is confused
// about which app it acts for.
func (h *API) pickApp(r *http.Request) (string, *reply.Error) {
	vals := r.Header.Values("X-Wechat-Appid")
	if len(vals) > 1 {
		return "", reply.BadRequest("send one X-Wechat-Appid header")
	}
	hdr := ""
	if len(vals) == 1 {
		hdr = vals[0]
	}
	switch {
	case h.appID != "":
		if hdr != "" && hdr != h.appID {
			return "", reply.BadRequest("this listener is bound to another app than the one X-Wechat-Appid names")
		}
		return h.appID, nil
	case hdr != "":
		if !h.App.Configured(hdr) {
			return "", reply.BadRequest("X-Wechat-Appid names an app that is not configured")
		}
		return hdr, nil
	case h.App.Programs() == 1:
		mp, _ := h.App.Program("")
		return mp.AppID, nil
	}
	return "", reply.BadRequest("several apps are configured: choose one with the X-Wechat-Appid header")
}

// relay writes WeChat's answer with its status. A streamed answer has no
// Content-Length: scrubbing may change its length.
func (h *API) relay(w http.ResponseWriter, a *wechat.Relayed) {
	defer a.Close()
	hdr := w.Header()
	for k, vs := range a.Header {
		hdr[k] = vs
	}
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	if a.Stream == nil {
		hdr.Set("Content-Length", strconv.Itoa(len(a.Whole)))
		w.WriteHeader(a.Status)
		_, _ = w.Write(a.Whole)
		return
	}
	w.WriteHeader(a.Status)
	if n, err := io.Copy(w, a.Stream); err != nil {
		// Headers are gone; all that is left is to note it. Not the
		// error's text: a broken upstream read could quote anything.
		if ce := h.Logger.Check(zapcore.DebugLevel, "wechat_api answer cut short"); ce != nil {
			ce.Write(zap.Int64("relayed_bytes", n))
		}
	}
}

// Interface guards
var (
	_ caddy.Provisioner           = (*API)(nil)
	_ caddyhttp.MiddlewareHandler = (*API)(nil)
)
