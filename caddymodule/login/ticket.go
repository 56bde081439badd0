package login

import (
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-wechat/caddy-wechat/internal/metrics"
	"github.com/caddy-wechat/caddy-wechat/internal/reply"
	"github.com/caddy-wechat/caddy-wechat/internal/token"
)

// cookieResponse is a ticket's redemption: the token went into the
// HttpOnly cookie, where the page's JavaScript cannot read it, so the
// body has none.
type cookieResponse struct {
	TokenType string `json:"token_type"`
	ExpiresIn int64  `json:"expires_in"`
	OpenID    string `json:"openid"`
}

// redeem exchanges a web-view ticket for a session cookie of the same
// session: the same sid, auth_time and sealed session_key, so that a
// logout on either side ends both.
func (l *Login) redeem(w http.ResponseWriter, r *http.Request, tk string) error {
	app := l.App
	cookies := app.Cookies()
	if cookies == nil {
		return reply.Fail(w, r, reply.BadRequest("a ticket is redeemed for a cookie, and cookie sessions are not configured: add a cookie block to the wechat global option"))
	}
	// A cookie set on behalf of another site's page would log the browser
	// into a session of the attacker's choosing.
	if cookies.CrossSite(r) {
		metrics.CSRFRejected.Inc()
		return reply.Fail(w, r, reply.CSRFRejected())
	}
	sess, ok, err := app.RedeemTicket(r.Context(), tk)
	if err != nil {
		l.logStoreFailure("redeeming a ticket", err)
		return reply.Fail(w, r, reply.StoreUnavailable("the ticket's redemption"))
	}
	now := time.Now()
	// A session ended since its ticket was minted stays ended.
	if ok && app.Revoked().Refuses(&token.Identity{AppID: sess.AppID, OpenID: sess.OpenID, SID: sess.SID, AuthTime: sess.AuthTime}, now) {
		ok = false
	}
	var tok string
	var exp time.Time
	if ok {
		tok, exp, ok, err = app.MintInSession(sess, now)
		if err != nil {
			return caddyhttp.Error(http.StatusInternalServerError, fmt.Errorf("%w: %v", errMint, err))
		}
	}
	if !ok {
		metrics.TicketsRefused.Inc()
		return reply.Fail(w, r, reply.InvalidTicket())
	}
	metrics.TicketsRedeemed.Inc()
	if ce := l.Logger.Check(zapcore.DebugLevel, "wechat ticket redeemed"); ce != nil {
		ce.Write(zap.String("appid", sess.AppID), zap.String("openid", sess.OpenID))
	}
	cookies.Set(w, r, tok, exp)
	reply.JSON(w, http.StatusOK, cookieResponse{TokenType: "cookie", ExpiresIn: max(int64(exp.Sub(now)/time.Second), 0), OpenID: sess.OpenID})
	return nil
}
