// Package caddymodule adapts the wechat package to Caddy: the "wechat" app
// that holds the Mini Programs, token keys and shared caches, and the HTTP
// handlers that use it.
package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-wechat/caddy-wechat/wechat"
)

func init() {
	caddy.RegisterModule(App{})
}

// appIDPattern is the shape of every Mini Program appid.
var appIDPattern = regexp.MustCompile(`^wx[0-9a-f]{16}$`)

const (
	defaultTimeout  = 5 * time.Second
	defaultTokenTTL = 2 * time.Hour

	defaultMaxInflight = 64
)

// App is the "wechat" app: the Mini Programs this Caddy serves, the keys
// that sign session tokens, and the WeChat client every handler shares.
// Handlers find it with ctx.AppIfConfigured("wechat").
type App struct {
	// APIBase is WeChat's API origin. Default: https://api.weixin.qq.com.
	// Point it at a wechat_mock site for development and tests.
	APIBase string `json:"api_base,omitempty"`

	// Timeout bounds one exchange with WeChat, retries included.
	// Default: 5s.
	Timeout caddy.Duration `json:"timeout,omitempty"`

	// Apps are the Mini Programs, one entry per appid.
	Apps []*MiniProgram `json:"apps,omitempty"`

	// Token configures the session tokens that wechat_login issues and
	// wechat_auth checks.
	Token *TokenConfig `json:"token,omitempty"`

	// MaxInflight bounds the calls to WeChat under way at once, per app.
	// When they are all busy, clients get 503 at once instead of piling up
	// behind a slow WeChat. Default: 64.
	MaxInflight int `json:"max_inflight,omitempty"`

	apps    map[string]*MiniProgram
	keys    *keyring
	client  *wechat.Client
	httpc   *http.Client
	flights *flightGroup
	rates   RateStore
	// verified caches checked tokens; revoked is asked on every request.
	verified *verifiedCache
	revoked  Revocations
	values   Values                          // shared short-lived values; see values.go
	tokens   map[string]*wechat.AccessTokens // by appid; see accesstokens.go
	logger   *zap.Logger
}

// MiniProgram is one Mini Program's credentials.
type MiniProgram struct {
	// AppID is the Mini Program's appid: "wx" and 16 hex digits.
	AppID string `json:"appid"`

	// Secret is the AppSecret. Give it as a {env.*} or {file.*}
	// placeholder so that it never lands in the autosaved config or the
	// admin API; placeholders are expanded at provisioning.
	Secret string `json:"secret"`

	secret   string
	inflight chan struct{} // a slot per call to WeChat under way
}

// acquire takes a slot for a call to WeChat without waiting.
func (mp *MiniProgram) acquire() (release func(), ok bool) {
	select {
	case mp.inflight <- struct{}{}:
		return func() { <-mp.inflight }, true
	default:
		return nil, false
	}
}

// TokenConfig configures session tokens.
type TokenConfig struct {
	// SigningKey is the HS256 key itself, 32 bytes or more (or, with
	// Algorithm EdDSA, an Ed25519 private key in PEM); {env.*} and
	// {file.*} placeholders work. When empty, a random key is generated
	// once and kept in Caddy's storage, so tokens survive restarts and
	// every instance sharing that storage accepts them.
	SigningKey string `json:"signing_key,omitempty"`

	// TTL is how long a token stays valid. Default: 2h.
	TTL caddy.Duration `json:"ttl,omitempty"`

	// Issuer is the token's iss claim, checked on every request.
	// Default: "caddy-wechat".
	Issuer string `json:"issuer,omitempty"`

	// Algorithm is HS256 (default) or EdDSA. With EdDSA, SigningKey is an
	// Ed25519 private key in PEM (PKCS#8), so that verifiers elsewhere need
	// only the public key; the generated key is kept in storage likewise.
	Algorithm string `json:"algorithm,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "wechat",
		New: func() caddy.Module { return new(App) },
	}
}

// Provision expands placeholders, loads or creates the signing key and
// sets up the WeChat client.
func (a *App) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	repl := caddy.NewReplacer()
	if a.MaxInflight <= 0 {
		a.MaxInflight = defaultMaxInflight
	}
	if err := registerMetrics(ctx.GetMetricsRegistry()); err != nil {
		return err
	}
	if a.Timeout <= 0 {
		a.Timeout = caddy.Duration(defaultTimeout)
	}
	if a.Token == nil {
		a.Token = new(TokenConfig)
	}
	if a.Token.TTL <= 0 {
		a.Token.TTL = caddy.Duration(defaultTokenTTL)
	}
	if a.Token.Issuer == "" {
		a.Token.Issuer = "caddy-wechat"
	}

	a.apps = make(map[string]*MiniProgram, len(a.Apps))
	for _, mp := range a.Apps {
		if mp == nil {
			return errors.New("wechat: empty app entry")
		}
		mp.secret = repl.ReplaceKnown(mp.Secret, "")
		mp.inflight = make(chan struct{}, a.MaxInflight)
		a.apps[mp.AppID] = mp
	}

	key := repl.ReplaceKnown(a.Token.SigningKey, "")
	if a.Token.SigningKey != "" && key == "" {
		return errors.New("wechat: token signing_key expands to nothing; is the environment variable or file set?")
	}
	keys, err := loadKeyring(ctx, a.Token.Algorithm, []byte(key), a.Token.Issuer)
	if err != nil {
		return err
	}
	a.keys = keys

	// One transport per app instance: closed in Stop, so a reload does not
	// leave idle connections to WeChat behind.
	// WeChat never redirects; following one could carry a request to a
	// host the operator did not configure.
	a.httpc = &http.Client{CheckRedirect: noRedirects, Transport: &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 5 * time.Second,
	}}
	a.client = &wechat.Client{BaseURL: a.APIBase, HTTPClient: a.httpc, Observe: observeAPI}
	a.flights = new(flightGroup)
	a.rates = newMemoryRates(maxRateKeys)
	a.verified = newVerifiedCache(maxVerified)
	a.revoked = newMemoryRevocations()
	return a.provisionAccessTokens()
}

func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// Validate checks what can only be checked after placeholders are expanded.
func (a *App) Validate() error {
	if len(a.Apps) == 0 {
		return errors.New("wechat: no app configured; add 'app <appid> { secret <appsecret> }' to the wechat global option")
	}
	for _, mp := range a.Apps {
		if err := checkAppID(mp.AppID); err != nil {
			return err
		}
		if mp.secret == "" {
			return fmt.Errorf("wechat: app %s has no secret; set 'secret {env.WECHAT_SECRET}' (an empty environment variable or file counts as missing)", mp.AppID)
		}
	}
	if len(a.apps) != len(a.Apps) {
		return errors.New("wechat: the same appid is configured twice")
	}
	if a.APIBase != "" && !strings.HasPrefix(a.APIBase, "http://") && !strings.HasPrefix(a.APIBase, "https://") {
		return fmt.Errorf("wechat: api_base %q must be an http:// or https:// origin", a.APIBase)
	}
	return nil
}

func checkAppID(id string) error {
	if !appIDPattern.MatchString(id) {
		return fmt.Errorf("wechat: appid %q is not a Mini Program appid: it must be 'wx' followed by 16 lowercase hex digits, as shown in the Mini Program console (Development > Development settings)", id)
	}
	return nil
}

// Start is a no-op: the app serves nothing by itself.
func (a *App) Start() error { return nil }

// Stop releases outbound connections.
func (a *App) Stop() error {
	if a.httpc != nil {
		a.httpc.CloseIdleConnections()
	}
	return nil
}

// Cleanup releases this config's hold on state shared across reloads.
func (a *App) Cleanup() error {
	return a.releaseAccessTokens()
}

// app returns the Mini Program for appid; an empty appid picks the only
// one when exactly one is configured.
func (a *App) app(appID string) (*MiniProgram, bool) {
	if appID == "" && len(a.Apps) == 1 {
		return a.Apps[0], true
	}
	mp, ok := a.apps[appID]
	return mp, ok
}

// Interface guards
var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.Validator    = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
)
