package gate

import (
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-wechat/caddy-wechat/internal/metrics"
	"github.com/caddy-wechat/caddy-wechat/internal/token"
)

// The headers a renewed Bearer token is sent in.
const (
	HeaderToken          = "X-Wechat-Token"
	HeaderTokenExpiresIn = "X-Wechat-Token-Expires-In"
)

// serveRenewed serves a request whose token is within renew_within of its
// exp: the answer carries a token of the same session that lives longer
// (X-Wechat-Token for Bearer, a new cookie for a cookie), minted once for
// every request that carries the old one. The old token stays valid until
// its own exp.
func (a *Auth) serveRenewed(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, id *token.Identity, now time.Time, fromCookie bool) error {
	renewed := a.renewal(id, now)
	if renewed == nil {
		return next.ServeHTTP(w, r)
	}
	if fromCookie {
		a.cookies.Set(w, r, renewed.Token, renewed.ExpiresAt)
		return next.ServeHTTP(w, r)
	}
	err := next.ServeHTTP(&renewedWriter{ResponseWriterWrapper: &caddyhttp.ResponseWriterWrapper{ResponseWriter: w}, renewed: renewed}, r)
	// The answer has gone; Caddy's access log reads the header map after
	// the handlers return, and logs every header but a few credentials,
	// so the token leaves the map before the log can see it.
	h := w.Header()
	delete(h, HeaderToken)
	delete(h, HeaderTokenExpiresIn)
	return err
}

// renewal is the token id's token renews into, minted once: requests
// that carry the same token at the same moment share one mint, and later
// ones find it on the cached identity. nil when the session has no time
// left to give.
func (a *Auth) renewal(id *token.Identity, now time.Time) *token.Renewal {
	if r := id.Renewed(); r != nil {
		return r
	}
	v, err := a.App.Flights().Do("renew\x00"+id.ID, func() (any, error) {
		if r := id.Renewed(); r != nil {
			return r, nil
		}
		tok, exp, ok, err := a.App.MintInSession(id.Session(), now)
		if err != nil || !ok || !exp.After(id.ExpiresAt) {
			// The session's end is near: no token would live longer.
			return nil, err
		}
		metrics.Renewals.Inc()
		return &token.Renewal{Token: tok, ExpiresAt: exp}, nil
	})
	if err != nil {
		if ce := a.Logger.Check(zapcore.ErrorLevel, "wechat renewal failed to mint"); ce != nil {
			ce.Write(zap.Error(err))
		}
		return nil
	}
	r, _ := v.(*token.Renewal)
	if r == nil {
		return nil
	}
	return id.SetRenewed(r)
}

// renewedWriter puts the renewed token into the answer's headers when
// they are written, over any the upstream sent.
type renewedWriter struct {
	*caddyhttp.ResponseWriterWrapper
	renewed *token.Renewal
	wrote   bool
}

func (w *renewedWriter) WriteHeader(status int) {
	if !w.wrote && status >= 200 {
		w.wrote = true
		h := w.Header()
		h.Set(HeaderToken, w.renewed.Token)
		h.Set(HeaderTokenExpiresIn, strconv.FormatInt(max(int64(time.Until(w.renewed.ExpiresAt)/time.Second), 0), 10))
	}
	w.ResponseWriterWrapper.WriteHeader(status)
}

func (w *renewedWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriterWrapper.Write(b)
}

func (w *renewedWriter) ReadFrom(src io.Reader) (int64, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriterWrapper.ReadFrom(src)
}
