package caddymodule

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("wechat", parseGlobalOption)
	httpcaddyfile.RegisterHandlerDirective("wechat_login", parseLogin)
	httpcaddyfile.RegisterHandlerDirective("wechat_auth", parseAuth)
	httpcaddyfile.RegisterHandlerDirective("wechat_mock", parseMock)

	// Registered against the same anchor, in the order they must run:
	// login answers its own path before the gate can refuse it, and the
	// gate runs before anything that proxies or responds.
	httpcaddyfile.RegisterDirectiveOrder("wechat_login", httpcaddyfile.Before, "basic_auth")
	httpcaddyfile.RegisterDirectiveOrder("wechat_auth", httpcaddyfile.Before, "basic_auth")
	httpcaddyfile.RegisterDirectiveOrder("wechat_mock", httpcaddyfile.Before, "reverse_proxy")
}

// parseGlobalOption sets up the wechat app. Syntax:
//
//	wechat {
//	    api_base <url>
//	    timeout  <duration>
//	    app <appid> {
//	        secret <appsecret>
//	    }
//	    token {
//	        signing_key <key>
//	        ttl         <duration>
//	        issuer      <name>
//	    }
//	}
func parseGlobalOption(d *caddyfile.Dispenser, _ any) (any, error) {
	app := new(App)
	if err := app.UnmarshalCaddyfile(d); err != nil {
		return nil, err
	}
	return httpcaddyfile.App{Name: "wechat", Value: caddyconfig.JSON(app, nil)}, nil
}

// UnmarshalCaddyfile reads the wechat global option.
func (a *App) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // option name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "api_base":
			if !d.AllArgs(&a.APIBase) {
				return d.ArgErr()
			}
			if !isPlaceholder(a.APIBase) && !strings.HasPrefix(a.APIBase, "http://") && !strings.HasPrefix(a.APIBase, "https://") {
				return d.Errf("api_base %q must be an http:// or https:// origin", a.APIBase)
			}
		case "timeout":
			if err := parseDuration(d, &a.Timeout); err != nil {
				return err
			}
		case "max_inflight":
			n, err := parsePositiveInt(d)
			if err != nil {
				return err
			}
			a.MaxInflight = n
		case "app":
			mp, err := parseMiniProgram(d, a.Apps)
			if err != nil {
				return err
			}
			a.Apps = append(a.Apps, mp)
		case "token":
			if a.Token != nil {
				return d.Err("the token block is given twice; merge the two blocks")
			}
			a.Token = new(TokenConfig)
			if err := a.Token.unmarshal(d); err != nil {
				return err
			}
		default:
			return d.Errf("unknown subdirective %q in wechat; expected api_base, timeout, max_inflight, app or token", d.Val())
		}
	}
	return nil
}

func parseMiniProgram(d *caddyfile.Dispenser, seen []*MiniProgram) (*MiniProgram, error) {
	mp := new(MiniProgram)
	if !d.NextArg() {
		return nil, d.Err("app needs an appid: app wx0123456789abcdef { secret {env.WECHAT_SECRET} }")
	}
	mp.AppID = d.Val()
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	if !isPlaceholder(mp.AppID) {
		if err := checkAppID(mp.AppID); err != nil {
			return nil, d.Err(err.Error())
		}
	}
	for _, other := range seen {
		if other.AppID == mp.AppID {
			return nil, d.Errf("app %s is configured twice; merge the two blocks", mp.AppID)
		}
	}
	file, line := d.File(), d.Line()
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "secret":
			if !d.AllArgs(&mp.Secret) {
				return nil, d.ArgErr()
			}
		default:
			return nil, d.Errf("unknown subdirective %q in app %s; expected secret", d.Val(), mp.AppID)
		}
	}
	if mp.Secret == "" {
		// Point at the app line, not at the closing brace.
		return nil, fmt.Errorf("app %s has no secret; add 'secret {env.WECHAT_SECRET}' inside its block, at %s:%d", mp.AppID, file, line)
	}
	return mp, nil
}

func (t *TokenConfig) unmarshal(d *caddyfile.Dispenser) error {
	var keyFile string
	var keyLine int
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "signing_key":
			if !d.AllArgs(&t.SigningKey) {
				return d.ArgErr()
			}
			keyFile, keyLine = d.File(), d.Line()
		case "ttl":
			if err := parseDuration(d, &t.TTL); err != nil {
				return err
			}
		case "issuer":
			if !d.AllArgs(&t.Issuer) {
				return d.ArgErr()
			}
		case "algorithm":
			if !d.AllArgs(&t.Algorithm) {
				return d.ArgErr()
			}
			if t.Algorithm != algHS256 && t.Algorithm != algEdDSA {
				return d.Errf("algorithm %q: expected HS256 or EdDSA", t.Algorithm)
			}
		default:
			return d.Errf("unknown subdirective %q in token; expected signing_key, ttl, issuer or algorithm", d.Val())
		}
	}
	// Checked after the block, since algorithm may follow signing_key.
	if t.SigningKey != "" && !isPlaceholder(t.SigningKey) && t.Algorithm != algEdDSA && len(t.SigningKey) < minKeyBytes {
		return fmt.Errorf("signing_key is %d bytes; HS256 needs %d bytes or more (generate one with: openssl rand -base64 48), at %s:%d", len(t.SigningKey), minKeyBytes, keyFile, keyLine)
	}
	return nil
}

func parseDuration(d *caddyfile.Dispenser, into *caddy.Duration) error {
	name := d.Val()
	var s string
	if !d.AllArgs(&s) {
		return d.ArgErr()
	}
	dur, err := caddy.ParseDuration(s)
	if err != nil || dur <= 0 {
		return d.Errf("%s: %q is not a positive duration such as 5s or 2h", name, s)
	}
	*into = caddy.Duration(dur)
	return nil
}

func parsePositiveInt(d *caddyfile.Dispenser) (int, error) {
	name := d.Val()
	var s string
	if !d.AllArgs(&s) {
		return 0, d.ArgErr()
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, d.Errf("%s: %q is not a positive whole number", name, s)
	}
	return n, nil
}

// isPlaceholder reports whether s holds a placeholder, whose value is only
// known at provisioning, so checks on it wait for caddy validate.
func isPlaceholder(s string) bool {
	return strings.Contains(s, "{") && strings.Contains(s, "}")
}

// parseLogin sets up wechat_login. Syntax:
//
//	wechat_login [<matcher>]
func parseLogin(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	l := new(Login)
	err := l.UnmarshalCaddyfile(h.Dispenser)
	return l, err
}

// UnmarshalCaddyfile reads wechat_login. Syntax:
//
//	wechat_login [<matcher>] {
//	    rate_limit client <requests> <window> | off
//	    rate_limit app    <requests> <window> | off
//	}
func (l *Login) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "rate_limit":
			if err := l.parseRateLimit(d); err != nil {
				return err
			}
		default:
			return d.Errf("unknown subdirective %q in wechat_login; expected rate_limit", d.Val())
		}
	}
	return nil
}

func (l *Login) parseRateLimit(d *caddyfile.Dispenser) error {
	args := d.RemainingArgs()
	if len(args) < 2 {
		return d.Err("rate_limit needs a scope and a limit: rate_limit client 30 1m, or rate_limit app off")
	}
	lim := &RateLimit{}
	switch {
	case len(args) == 2 && args[1] == "off":
	case len(args) == 3:
		n, err := strconv.Atoi(args[1])
		win, werr := caddy.ParseDuration(args[2])
		if err != nil || n <= 0 || werr != nil || win <= 0 {
			return d.Errf("rate_limit %s %s %s: want a positive number of requests and a window such as 1m", args[0], args[1], args[2])
		}
		lim.Requests, lim.Window = n, caddy.Duration(win)
	default:
		return d.ArgErr()
	}
	switch args[0] {
	case "client":
		l.ClientRate = lim
	case "app":
		l.AppRate = lim
	default:
		return d.Errf("rate_limit scope %q: expected client or app", args[0])
	}
	return nil
}

// parseAuth sets up wechat_auth. Syntax:
//
//	wechat_auth [<matcher>] {
//	    optional
//	    apps <appid...>
//	}
func parseAuth(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	a := new(Auth)
	err := a.UnmarshalCaddyfile(h.Dispenser)
	return a, err
}

// UnmarshalCaddyfile reads wechat_auth.
func (a *Auth) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "optional":
			if d.NextArg() {
				return d.ArgErr()
			}
			a.Optional = true
		case "apps":
			ids := d.RemainingArgs()
			if len(ids) == 0 {
				return d.Err("apps needs at least one appid: apps wx0123456789abcdef")
			}
			for _, id := range ids {
				if !isPlaceholder(id) {
					if err := checkAppID(id); err != nil {
						return d.Err(err.Error())
					}
				}
			}
			a.Apps = append(a.Apps, ids...)
		default:
			return d.Errf("unknown subdirective %q in wechat_auth; expected optional or apps", d.Val())
		}
	}
	return nil
}

// parseMock sets up wechat_mock. Syntax:
//
//	wechat_mock [<matcher>]
func parseMock(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Mock)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

// UnmarshalCaddyfile reads wechat_mock, which takes no options.
func (m *Mock) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if d.NextArg() {
		return d.ArgErr()
	}
	if d.NextBlock(0) {
		return d.Errf("unknown subdirective %q in wechat_mock", d.Val())
	}
	return nil
}

// Interface guards
var (
	_ caddyfile.Unmarshaler = (*App)(nil)
	_ caddyfile.Unmarshaler = (*Login)(nil)
	_ caddyfile.Unmarshaler = (*Auth)(nil)
	_ caddyfile.Unmarshaler = (*Mock)(nil)
)
