package caddymodule

import (
	"net/http"
)

// CORS, for H5 pages on another origin: a browser sends an unauthenticated
// OPTIONS first (a preflight) and reads an answer only if it names the
// page's origin. The origins allowed are the cookie's AllowedOrigins;
// without cookie sessions there is no CORS, and nothing is a preflight.

// exposedHeaders are what a page's JavaScript may read of our answers.
const exposedHeaders = "X-Wechat-Token, X-Wechat-Token-Expires-In"

// IsPreflight reports whether r is a CORS preflight that the edge
// answers: cookie sessions are on, and r is OPTIONS with Origin and
// Access-Control-Request-Method.
func (a *App) IsPreflight(r *http.Request) bool {
	return a.Cookie != nil && r.Method == http.MethodOptions &&
		r.Header.Get("Origin") != "" && r.Header.Get("Access-Control-Request-Method") != ""
}

// AnswerPreflight answers a preflight: 204, with the CORS headers when the
// origin is allowed and without them otherwise, which the browser takes as
// a refusal.
func (a *App) AnswerPreflight(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Add("Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
	if origin := r.Header.Get("Origin"); a.Cookie.AllowsOrigin(r, origin) {
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
		h.Set("Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, PATCH, DELETE")
		allowHeaders := r.Header.Get("Access-Control-Request-Headers")
		if allowHeaders == "" {
			allowHeaders = "Authorization, Content-Type"
		}
		h.Set("Access-Control-Allow-Headers", allowHeaders)
		h.Set("Access-Control-Expose-Headers", exposedHeaders)
		h.Set("Access-Control-Max-Age", "600")
	}
	w.WriteHeader(http.StatusNoContent)
}

// CORS adds the headers of an actual response to a page of an allowed
// origin on another site; nothing for others, or without cookie sessions.
func (a *App) CORS(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	if a.Cookie == nil || origin == "" {
		return
	}
	h := w.Header()
	h.Add("Vary", "Origin")
	if a.Cookie.AllowsOrigin(r, origin) {
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
		h.Set("Access-Control-Expose-Headers", exposedHeaders)
	}
}
