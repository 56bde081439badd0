package caddymodule

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"

	"github.com/caddy-wechat/caddy-wechat/internal/token"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("wechat", parseGlobalOption)
}

// parseGlobalOption sets up the wechat app. Syntax:
//
//	wechat {
//	    api_base     <url>
//	    timeout      <duration>
//	    max_inflight <n>
//	    app <appid> {
//	        secret <appsecret>
//	    }
//	    token {
//	        signing_key <key>
//	        ttl         <duration>
//	        issuer      <name>
//	        algorithm   HS256|EdDSA
//	        cache_size  <n>
//	        renew_within     <duration>|off
//	        session_lifetime <duration>
//	    }
//	    cookie {
//	        name            <name>
//	        domain          <domain>
//	        path            <path>
//	        same_site       lax|strict|none
//	        secure          auto|on
//	        allowed_origins <origin...>
//	    }
//	    store <module> [{
//	        <module options>
//	    }]
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
			if !IsPlaceholder(a.APIBase) && !strings.HasPrefix(a.APIBase, "http://") && !strings.HasPrefix(a.APIBase, "https://") {
				return d.Errf("api_base %q must be an http:// or https:// origin", a.APIBase)
			}
		case "timeout":
			if err := ParseDuration(d, &a.Timeout); err != nil {
				return err
			}
		case "max_inflight":
			n, err := ParsePositiveInt(d)
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
		case "cookie":
			if a.Cookie != nil {
				return d.Err("the cookie block is given twice; merge the two blocks")
			}
			a.Cookie = new(CookieConfig)
			if err := a.Cookie.unmarshal(d); err != nil {
				return err
			}
		case "assertion":
			if a.Assertion != nil {
				return d.Err("the assertion block is given twice; merge the two blocks")
			}
			a.Assertion = new(AssertionConfig)
			if err := a.Assertion.unmarshal(d); err != nil {
				return err
			}
		case "store":
			if a.StoreRaw != nil {
				return d.Err("store is given twice; configure one store")
			}
			if !d.NextArg() {
				return d.Err("store needs a module: store memory, or store redis { url ... }")
			}
			name := d.Val()
			mod, err := caddyfile.UnmarshalModule(d, "wechat.stores."+name)
			if err != nil {
				return err
			}
			a.StoreRaw = caddyconfig.JSONModuleObject(mod, "module", name, nil)
		case "token":
			if a.Token != nil {
				return d.Err("the token block is given twice; merge the two blocks")
			}
			a.Token = new(TokenConfig)
			if err := a.Token.unmarshal(d); err != nil {
				return err
			}
		default:
			return d.Errf("unknown subdirective %q in wechat; expected api_base, timeout, max_inflight, app, token, cookie, assertion or store", d.Val())
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
	if !IsPlaceholder(mp.AppID) {
		if err := CheckAppID(mp.AppID); err != nil {
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
		case "previous_key":
			var k string
			if !d.AllArgs(&k) {
				return d.ArgErr()
			}
			t.PreviousKeys = append(t.PreviousKeys, k)
		case "ttl":
			if err := ParseDuration(d, &t.TTL); err != nil {
				return err
			}
		case "issuer":
			if !d.AllArgs(&t.Issuer) {
				return d.ArgErr()
			}
		case "cache_size":
			n, err := ParsePositiveInt(d)
			if err != nil {
				return err
			}
			t.CacheSize = n
		case "renew_within":
			var v string
			if !d.AllArgs(&v) {
				return d.ArgErr()
			}
			var dur caddy.Duration
			if v != "off" {
				parsed, err := caddy.ParseDuration(v)
				if err != nil || parsed <= 0 {
					return d.Errf("renew_within: %q is not a positive duration such as 30m, or off", v)
				}
				dur = caddy.Duration(parsed)
			}
			t.RenewWithin = &dur
		case "session_lifetime":
			if err := ParseDuration(d, &t.SessionLifetime); err != nil {
				return err
			}
		case "algorithm":
			if !d.AllArgs(&t.Algorithm) {
				return d.ArgErr()
			}
			if t.Algorithm != token.HS256 && t.Algorithm != token.EdDSA && t.Algorithm != token.ES256 {
				return d.Errf("algorithm %q: expected HS256, EdDSA or ES256", t.Algorithm)
			}
		default:
			return d.Errf("unknown subdirective %q in token; expected signing_key, previous_key, ttl, issuer, algorithm, cache_size, renew_within or session_lifetime", d.Val())
		}
	}
	// Checked after the block, since algorithm may follow signing_key.
	if t.SigningKey != "" && !IsPlaceholder(t.SigningKey) && (t.Algorithm == "" || t.Algorithm == token.HS256) && len(t.SigningKey) < token.MinHS256Bytes {
		return fmt.Errorf("signing_key is %d bytes; HS256 needs %d bytes or more (generate one with: openssl rand -base64 48), at %s:%d", len(t.SigningKey), token.MinHS256Bytes, keyFile, keyLine)
	}
	return nil
}

// ParseDuration reads the one positive duration argument of the current
// subdirective.
func ParseDuration(d *caddyfile.Dispenser, into *caddy.Duration) error {
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

// ParsePositiveInt reads the one positive whole number argument of the
// current subdirective.
func ParsePositiveInt(d *caddyfile.Dispenser) (int, error) {
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

// IsPlaceholder reports whether s holds a placeholder, whose value is only
// known at provisioning, so checks on it wait for caddy validate.
func IsPlaceholder(s string) bool {
	return strings.Contains(s, "{") && strings.Contains(s, "}")
}

func (c *CookieConfig) unmarshal(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		sub := d.Val()
		switch sub {
		case "name", "domain", "path", "same_site", "secure":
			var v string
			if !d.AllArgs(&v) {
				return d.ArgErr()
			}
			switch sub {
			case "name":
				c.Name = v
			case "domain":
				c.Domain = v
			case "path":
				c.Path = v
			case "same_site":
				c.SameSite = v
			case "secure":
				c.Secure = v
			}
		case "allowed_origins":
			origins := d.RemainingArgs()
			if len(origins) == 0 {
				return d.Err("allowed_origins needs at least one origin: allowed_origins https://h5.example.com")
			}
			for _, o := range origins {
				if _, err := normalOrigin(o); err != nil && !IsPlaceholder(o) {
					return d.Errf("allowed_origins %q: %v", o, err)
				}
			}
			c.AllowedOrigins = append(c.AllowedOrigins, origins...)
		default:
			return d.Errf("unknown subdirective %q in cookie; expected name, domain, path, same_site, secure or allowed_origins", sub)
		}
	}
	// The same checks as at provisioning, so that caddy adapt reports them.
	check := *c
	if err := check.provision(); err != nil {
		return d.Err(strings.TrimPrefix(err.Error(), "wechat: "))
	}
	return nil
}

// Interface guards
var _ caddyfile.Unmarshaler = (*App)(nil)
