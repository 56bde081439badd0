package gate

import (
	"crypto/tls"
	"net/http"
	"strconv"
	"time"

	"github.com/caddy-wechat/caddy-wechat/internal/token"
)

// Forward-auth mode (wechat_auth { respond }): the gate is the auth
// service of a proxy in front (nginx auth_request, Caddy forward_auth,
// Traefik forwardAuth). It answers instead of passing the request on:
// 200 with the identity in the response headers, for the proxy to copy
// onto the request it forwards, or the usual refusal.

// forwardedView is the original request as the proxy in front describes
// it, for the checks that depend on it (the CSRF rule, the cookie's
// Secure flag): its method, host and scheme. Only the proxy may reach a
// gate in this mode, so its X-Forwarded-* are believed.
func forwardedView(r *http.Request) *http.Request {
	v := *r
	if m := r.Header.Get("X-Forwarded-Method"); m != "" {
		v.Method = m
	} else if m := r.Header.Get("X-Original-Method"); m != "" {
		v.Method = m
	}
	if host := r.Header.Get("X-Forwarded-Host"); host != "" {
		v.Host = host
	}
	switch r.Header.Get("X-Forwarded-Proto") {
	case "https":
		v.TLS = &tls.ConnectionState{}
	case "http":
		v.TLS = nil
	}
	return &v
}

// respond answers the proxy in front: 200 and the identity headers, the
// assertion and a renewal among them when there is one.
func (a *Auth) respond(w http.ResponseWriter, r *http.Request, id *token.Identity, assertion []string, now time.Time, fromCookie bool) error {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set(HeaderOpenID, id.OpenID)
	h.Set(HeaderAppID, id.AppID)
	if id.UnionID != "" {
		h.Set(HeaderUnionID, id.UnionID)
	}
	if assertion != nil {
		h[HeaderAssertion] = assertion
	}
	renewed := false
	if a.renewWithin > 0 && id.ExpiresAt.Sub(now) < a.renewWithin {
		if rn := a.renewal(id, now); rn != nil {
			if fromCookie {
				a.cookies.Set(w, r, rn.Token, rn.ExpiresAt)
			} else {
				renewed = true
				h.Set(HeaderToken, rn.Token)
				h.Set(HeaderTokenExpiresIn, strconv.FormatInt(max(int64(time.Until(rn.ExpiresAt)/time.Second), 0), 10))
			}
		}
	}
	w.WriteHeader(http.StatusOK)
	if renewed {
		// Sent; kept out of the access log, as in the proxying mode.
		delete(h, HeaderToken)
		delete(h, HeaderTokenExpiresIn)
	}
	return nil
}

// respondAnonymous answers the proxy in front for a request that passes
// without an identity: an optional gate's, or a CORS preflight, which the
// backend or the proxy answers.
func respondAnonymous(w http.ResponseWriter) error {
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	return nil
}
