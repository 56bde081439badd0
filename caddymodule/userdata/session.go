package userdata

import (
	"bytes"
	"io"
	"net/http"
	"strconv"

	"github.com/caddy-wechat/caddy-wechat/caddymodule"
	"github.com/caddy-wechat/caddy-wechat/internal/reply"
	"github.com/caddy-wechat/caddy-wechat/internal/token"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// Helpers shared by the handlers that act for a logged-in user.

// sessionKey opens the session_key sealed in the user's token. A token
// without one cannot be used here, and only a new login fixes that.
func sessionKey(w http.ResponseWriter, app *caddymodule.App, id *token.Identity) (string, *reply.Error) {
	sk, err := app.Keys().SessionKey(id)
	if err != nil {
		return "", reply.Unauthorized(w, "invalid_token", "this token carries no usable session_key: log in again", "")
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
	// The client's trailers went with its body.
	r.Trailer = nil
	r.Header.Del("Trailer")
	r.Header.Del("Content-Encoding")
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return next.ServeHTTP(w, r)
}
