// Package session holds the handlers that act on a session as a whole:
// wechat_ticket hands a Mini Program's session to a web-view page,
// wechat_logout ends a session, and the admin API's /wechat/revoke ends
// every session of a user.
package session

import (
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-wechat/caddy-wechat/caddymodule"
	"github.com/caddy-wechat/caddy-wechat/internal/metrics"
	"github.com/caddy-wechat/caddy-wechat/internal/reply"
)

func init() {
	caddy.RegisterModule(Ticket{})
	httpcaddyfile.RegisterHandlerDirective("wechat_ticket", parseTicket)
}

// defaultTicketTTL is long enough for a web-view to open and post its
// ticket, short enough that a ticket seen in a log or a history entry is
// already dead.
const defaultTicketTTL = time.Minute

// Ticket is wechat_ticket: a POST from a logged-in Mini Program gets a
// single-use ticket that a <web-view> page exchanges, through
// wechat_login, for a cookie of the same session. A bearer token never
// goes into a URL that way. It runs after wechat_auth, whose identity it
// uses.
type Ticket struct {
	// TTL is how long a ticket can be redeemed. Default: 1m; at most 5m.
	TTL caddy.Duration `json:"ttl,omitempty"`

	caddymodule.AppRef
}

// CaddyModule returns the Caddy module information.
func (Ticket) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.wechat_ticket",
		New: func() caddy.Module { return new(Ticket) },
	}
}

// Provision finds the wechat app.
func (t *Ticket) Provision(ctx caddy.Context) error {
	if t.TTL == 0 {
		t.TTL = caddy.Duration(defaultTicketTTL)
	}
	return t.ProvisionApp(ctx)
}

// Validate bounds the ttl.
func (t *Ticket) Validate() error {
	if ttl := time.Duration(t.TTL); ttl < time.Second || ttl > caddymodule.MaxTicketTTL {
		return fmt.Errorf("wechat_ticket: ttl %v: must be between 1s and %v", ttl, caddymodule.MaxTicketTTL)
	}
	return nil
}

type ticketResponse struct {
	Ticket    string `json:"ticket"`
	ExpiresIn int64  `json:"expires_in"`
}

func (t *Ticket) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	app := t.App
	if app.IsPreflight(r) {
		app.AnswerPreflight(w, r)
		return nil
	}
	app.CORS(w, r)
	if r.Method != http.MethodPost {
		return reply.NotPost(w, r)
	}
	id := caddymodule.IdentityFrom(r.Context())
	if id == nil {
		return reply.NeedsLogin(w, r)
	}
	ttl := time.Duration(t.TTL)
	tk, err := app.MintTicket(r.Context(), id, ttl)
	if err != nil {
		if ce := t.Logger.Check(zapcore.ErrorLevel, "wechat ticket not minted: the store failed"); ce != nil {
			ce.Write(zap.Error(err))
		}
		return reply.Fail(w, r, reply.StoreUnavailable("a ticket"))
	}
	metrics.TicketsMinted.Inc()
	if ce := t.Logger.Check(zapcore.DebugLevel, "wechat ticket minted"); ce != nil {
		ce.Write(zap.String("appid", id.AppID), zap.String("openid", id.OpenID))
	}
	reply.JSON(w, http.StatusOK, ticketResponse{Ticket: tk, ExpiresIn: int64(ttl / time.Second)})
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Ticket)(nil)
	_ caddy.Validator             = (*Ticket)(nil)
	_ caddyhttp.MiddlewareHandler = (*Ticket)(nil)
)
