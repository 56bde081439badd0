package caddymodule

import (
	"encoding/json"
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// apiError is a client-facing failure: a status, a stable machine code and
// a sentence for a person. It never carries secrets, codes or tokens.
type apiError struct {
	Status  int    `json:"-"`
	Code    string `json:"error"`
	Message string `json:"message,omitempty"`
	// RetryAfter, in whole seconds, is sent as the Retry-After header.
	RetryAfter string `json:"-"`
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

// hasErrorRoutes reports whether the server has handle_errors routes, which
// should then get the chance to restyle our errors.
func hasErrorRoutes(r *http.Request) bool {
	srv, ok := r.Context().Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server)
	return ok && srv != nil && srv.Errors != nil && len(srv.Errors.Routes) > 0
}

// fail sends e as JSON, or, when the site has handle_errors, returns it as
// a Caddy HTTP error so those routes can restyle it. Caddy would otherwise
// answer a returned error with an empty body. Headers set on w (its
// Retry-After, a WWW-Authenticate set beforehand) are kept either way.
func fail(w http.ResponseWriter, r *http.Request, e *apiError) error {
	if e.RetryAfter != "" {
		w.Header().Set("Retry-After", e.RetryAfter)
	}
	if hasErrorRoutes(r) {
		return caddyhttp.Error(e.Status, e)
	}
	writeJSON(w, e.Status, e)
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// unauthorized sets RFC 6750's Bearer challenge on w and returns the 401
// to send with it. description, when set, tells the client why its token
// was refused, so that it can log in again without asking the user.
func unauthorized(w http.ResponseWriter, code, msg, description string) *apiError {
	challenge := `Bearer realm="wechat"`
	if code == "invalid_token" {
		challenge += `, error="invalid_token"`
		if description != "" {
			challenge += `, error_description="` + description + `"`
		}
	}
	w.Header().Set("WWW-Authenticate", challenge)
	return &apiError{Status: http.StatusUnauthorized, Code: code, Message: msg}
}
