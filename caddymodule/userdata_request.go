package caddymodule

import (
	"bytes"
	"encoding/base64"
	"errors"
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
	w.Header().Set("WWW-Authenticate", `Bearer realm="wechat"`)
	return fail(w, r, &apiError{http.StatusUnauthorized, "unauthorized", "a bearer token is required: log in first"})
}

// refuseNotPost answers 405: these endpoints take a JSON body.
func refuseNotPost(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Allow", http.MethodPost)
	return fail(w, r, &apiError{http.StatusMethodNotAllowed, "method_not_allowed", "use POST"})
}

// readCapped reads the whole body, refusing more than limit bytes, so
// that a client cannot make the edge buffer an arbitrary amount.
func readCapped(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, *apiError) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &apiError{http.StatusRequestEntityTooLarge, "request_too_large", "the body must be at most " + strconv.FormatInt(limit, 10) + " bytes"}
		}
		return nil, &apiError{http.StatusBadRequest, "invalid_request", "the body could not be read"}
	}
	return body, nil
}

// userSessionKey opens the session_key sealed in the user's token. A token
// without one cannot be used here, and only a new login fixes that.
func (a *App) userSessionKey(w http.ResponseWriter, id *Identity) (string, *apiError) {
	sk, err := a.keys.sessionKey(id)
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="wechat", error="invalid_token"`)
		return "", &apiError{http.StatusUnauthorized, "invalid_token", "this token carries no usable session_key: log in again"}
	}
	return sk, nil
}

// validSessionKey reports whether sk has the shape of a WeChat
// session_key: 16 bytes in padded standard base64. A key of another shape
// is not the client's fault, so it must not surface as a 400 about a field
// the client never sent.
func validSessionKey(sk string) bool {
	b, err := base64.StdEncoding.Strict().DecodeString(sk)
	return err == nil && len(b) == 16
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
	r.Header.Del("Content-Encoding")
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return next.ServeHTTP(w, r)
}
