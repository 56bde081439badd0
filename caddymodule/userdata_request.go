package caddymodule

import (
	"bytes"
	"io"
	"net/http"
	"strconv"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// Helpers shared by the handlers that act for a logged-in user
// (wechat_decrypt, wechat_phone) and by wechat_api.

// requireUser returns the identity wechat_auth put on the request. A nil
// identity means the request did not pass the gate with a token (no gate
// in front, or an optional gate and no token); the caller must then answer
// with refuseAnonymous, because these handlers act on a user's session.
func requireUser(r *http.Request) *Identity {
	return identityFrom(r.Context())
}

func refuseAnonymous(w http.ResponseWriter, r *http.Request) error {
	return fail(w, r, unauthorized(w, "unauthorized", "a bearer token is required: log in first", ""))
}

// refuseNotPost answers 405: these endpoints take a JSON body.
func refuseNotPost(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Allow", http.MethodPost)
	return fail(w, r, &apiError{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed", Message: "use POST"})
}

// userSessionKey opens the session_key sealed in the user's token. A token
// without one cannot be used here, and only a new login fixes that.
func (a *App) userSessionKey(w http.ResponseWriter, id *Identity) (string, *apiError) {
	sk, err := a.keys.sessionKey(id)
	if err != nil {
		return "", unauthorized(w, "invalid_token", "this token carries no usable session_key: log in again", "")
	}
	return sk, nil
}

// forwardJSON replaces the request body with body and passes the request
// on, so that the next handler (typically reverse_proxy) sends the backend
// verified JSON instead of what the client posted. The method stays POST.
func forwardJSON(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, body []byte) error {
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	r.ContentLength = int64(len(body))
	r.TransferEncoding = nil
	r.Header.Del("Transfer-Encoding")
	dropTrailers(r)
	r.Header.Del("Content-Encoding")
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return next.ServeHTTP(w, r)
}
