// Package reply is how every handler of the plugin answers a client: one
// JSON error shape, one 401 challenge, one body cap, one Retry-After, one
// mapping of WeChat's failures.
package reply

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// Error is a client-facing failure: a status, a stable machine code and a
// sentence for a person. It never carries secrets, codes or tokens.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"error"`
	Message string `json:"message,omitempty"`
	// RetryAfter, in whole seconds, is sent as the Retry-After header.
	RetryAfter string `json:"-"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// BadRequest is a 400 invalid_request.
func BadRequest(msg string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "invalid_request", Message: msg}
}

// hasErrorRoutes reports whether the server has handle_errors routes,
// which should then get the chance to restyle our errors.
func hasErrorRoutes(r *http.Request) bool {
	srv, ok := r.Context().Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server)
	return ok && srv != nil && srv.Errors != nil && len(srv.Errors.Routes) > 0
}

// Fail sends e as JSON, or, when the site has handle_errors, returns it as
// a Caddy HTTP error so those routes can restyle it. Caddy would otherwise
// answer a returned error with an empty body. Headers set on w (its
// Retry-After, a WWW-Authenticate set beforehand) are kept either way.
func Fail(w http.ResponseWriter, r *http.Request, e *Error) error {
	if e.RetryAfter != "" {
		w.Header().Set("Retry-After", e.RetryAfter)
	}
	if hasErrorRoutes(r) {
		return caddyhttp.Error(e.Status, e)
	}
	JSON(w, e.Status, e)
	return nil
}

// JSON writes v as a JSON answer that no cache may keep.
func JSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Unauthorized sets RFC 6750's Bearer challenge on w and returns the 401
// to send with it. description, when set, tells the client why its token
// was refused, so that it can log in again without asking the user.
func Unauthorized(w http.ResponseWriter, code, msg, description string) *Error {
	challenge := `Bearer realm="wechat"`
	if code == "invalid_token" {
		challenge += `, error="invalid_token"`
		if description != "" {
			challenge += `, error_description="` + description + `"`
		}
	}
	w.Header().Set("WWW-Authenticate", challenge)
	return &Error{Status: http.StatusUnauthorized, Code: code, Message: msg}
}

// NeedsLogin is the 401 for a request that did not pass the gate with a
// token, on an endpoint that acts on a user's session.
func NeedsLogin(w http.ResponseWriter, r *http.Request) error {
	return Fail(w, r, Unauthorized(w, "unauthorized", "a bearer token is required: log in first", ""))
}

// NotPost answers 405 for an endpoint that takes a POST body.
func NotPost(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Allow", http.MethodPost)
	return Fail(w, r, &Error{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed", Message: "use POST"})
}

// RetryAfter is wait in whole seconds, rounded up so that a client
// retrying on time succeeds, and at least 1.
func RetryAfter(wait time.Duration) string {
	secs := int64((wait + time.Second - 1) / time.Second)
	return strconv.FormatInt(max(secs, 1), 10)
}

// RateLimited is the 429 for the edge's own limits.
func RateLimited(msg string, wait time.Duration) *Error {
	return &Error{Status: http.StatusTooManyRequests, Code: "rate_limited", Message: msg, RetryAfter: RetryAfter(wait)}
}

// CSRFRejected is the 403 for a cookie-authenticated request from a page
// of another site.
func CSRFRejected() *Error {
	return &Error{Status: http.StatusForbidden, Code: "csrf_rejected", Message: "this request carries the session cookie but comes from a page of another site; allow its origin in cookie { allowed_origins } if it is yours"}
}

// StoreUnavailable is the 503 for an action that must be recorded in the
// store (a logout, a ticket, a revocation) when the store cannot take it:
// the action is refused rather than pretended.
func StoreUnavailable(what string) *Error {
	return &Error{Status: http.StatusServiceUnavailable, Code: "store_unavailable", Message: "the session store is unavailable, so " + what + " cannot be recorded; try again shortly", RetryAfter: "5"}
}

// InvalidTicket is the 401 for a web-view ticket that is unknown, used or
// expired.
func InvalidTicket() *Error {
	return &Error{Status: http.StatusUnauthorized, Code: "invalid_ticket", Message: "the ticket is unknown, already used or expired: get a new one from the Mini Program"}
}
