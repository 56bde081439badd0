// Package caddymodule is the host of the plugin's Caddy modules: the
// "wechat" app, which holds the Mini Programs, the token keys, the store
// and the WeChat client that every handler shares. The handlers live in
// the packages below it (gate, login, userdata, api) and find the app
// with FromContext; stores are guest modules in the wechat.stores
// namespace, memory being the default and living here.
package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-wechat/caddy-wechat/internal/flight"
	"github.com/caddy-wechat/caddy-wechat/internal/metrics"
	"github.com/caddy-wechat/caddy-wechat/internal/store"
	"github.com/caddy-wechat/caddy-wechat/internal/token"
	"github.com/caddy-wechat/caddy-wechat/wechat"
)

func init() {
	caddy.RegisterModule(App{})
}

// appIDPattern is the shape of every Mini Program appid.
var appIDPattern = regexp.MustCompile(`^wx[0-9a-f]{16}$`)

const (
	defaultTimeout     = 5 * time.Second
	defaultTokenTTL    = 2 * time.Hour
	defaultMaxInflight = 64
	defaultIssuer      = "caddy-wechat"

	defaultRenewWithin     = 30 * time.Minute
	defaultSessionLifetime = 30 * 24 * time.Hour
)

// App is the "wechat" app: the Mini Programs this Caddy serves, the keys
// that sign session tokens, the store, and the WeChat client every
// handler shares. Handlers find it with FromContext.
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

	// Cookie turns on cookie sessions, for <web-view> H5 pages, which
	// cannot hold a bearer token safely: the gate then also reads its
	// token from this cookie, and wechat_login sets it when it redeems a
	// ticket. Absent: Bearer tokens only.
	Cookie *CookieConfig `json:"cookie,omitempty"`

	// Assertion configures the key of X-Wechat-Assertion (wechat_auth {
	// assertion }) and of wechat_jwks. Absent: an EdDSA key generated
	// once and kept in storage, when first needed.
	Assertion *AssertionConfig `json:"assertion,omitempty"`

	// MaxInflight bounds the calls to WeChat under way at once, per app.
	// When they are all busy, clients get 503 at once instead of piling up
	// behind a slow WeChat. Default: 64.
	MaxInflight int `json:"max_inflight,omitempty"`

	// StoreRaw is where state that every instance must share is kept
	// (rate-limit counters, remembered answers, revocations, the
	// access_token cache): a module of the wechat.stores namespace.
	// Default: memory, which serves one instance.
	StoreRaw json.RawMessage `json:"store,omitempty" caddy:"namespace=wechat.stores inline_key=module"`

	byID     map[string]*MiniProgram
	keys     *token.KeySet
	verifier *token.Verifier
	verified *token.Cache
	client   *wechat.Client
	httpc    *http.Client
	flights  *flight.Group
	store    store.Store
	revoked  *token.Revoked
	stopFeed func()
	tokens   map[string]*wechat.AccessTokens // by appid; see accesstokens.go
	logger   *zap.Logger

	assertionMu  *sync.Mutex
	assertionKey *token.Key // see assertion_key.go
}

// TokenConfig configures session tokens.
type TokenConfig struct {
	// SigningKey is the HS256 key itself, 32 bytes or more (or, with
	// Algorithm EdDSA, an Ed25519 private key in PEM); {env.*} and
	// {file.*} placeholders work. When empty, a random key is generated
	// once and kept in Caddy's storage, so tokens survive restarts and
	// every instance sharing that storage accepts them.
	SigningKey string `json:"signing_key,omitempty"`

	// PreviousKeys verify tokens, and open the session_keys sealed in
	// them, but sign nothing: the keys of a rotation's past, kept until
	// their tokens are gone (one session_lifetime). Each is chosen by the
	// token's kid. They take SigningKey's forms, and say their own
	// algorithm: a PEM private key is EdDSA or ES256 by its type, anything
	// else an HS256 key.
	PreviousKeys []string `json:"previous_keys,omitempty"`

	// TTL is how long a token stays valid. Default: 2h.
	TTL caddy.Duration `json:"ttl,omitempty"`

	// Issuer is the token's iss claim, checked on every request.
	// Default: "caddy-wechat".
	Issuer string `json:"issuer,omitempty"`

	// Algorithm is HS256 (default), EdDSA or ES256. With EdDSA or ES256,
	// SigningKey is an Ed25519 or a P-256 private key in PEM, so that
	// verifiers elsewhere need only the public key (see wechat_jwks); the
	// generated key is kept in storage likewise.
	Algorithm string `json:"algorithm,omitempty"`

	// RenewWithin is how close to its exp a token is renewed: the gate
	// answers a request carrying it with a new token of the same session
	// (X-Wechat-Token, or a new cookie). Default: 30m; 0 turns renewal off.
	RenewWithin *caddy.Duration `json:"renew_within,omitempty"`

	// SessionLifetime bounds a session from its login: renewal never
	// makes a token live past auth_time + SessionLifetime, after which the
	// client runs wx.login again. Default: 30 days.
	SessionLifetime caddy.Duration `json:"session_lifetime,omitempty"`

	// CacheSize is how many verified tokens the gates of this config
	// remember, so that a request of a recently seen user costs a map
	// lookup instead of a signature check. Size it for the users active
	// within a few minutes; an entry costs about 570 bytes. Default:
	// 100,000.
	CacheSize int `json:"cache_size,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "wechat",
		New: func() caddy.Module { return new(App) },
	}
}

// Provision expands placeholders, loads the store and the signing keys,
// and sets up the WeChat client.
func (a *App) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	repl := caddy.NewReplacer()
	if err := metrics.Register(ctx.GetMetricsRegistry()); err != nil {
		return err
	}
	if a.MaxInflight <= 0 {
		a.MaxInflight = defaultMaxInflight
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
		a.Token.Issuer = defaultIssuer
	}
	if a.Token.RenewWithin == nil {
		d := caddy.Duration(defaultRenewWithin)
		a.Token.RenewWithin = &d
	}
	if a.Token.SessionLifetime <= 0 {
		a.Token.SessionLifetime = caddy.Duration(defaultSessionLifetime)
	}
	if err := a.Cookie.provision(); err != nil {
		return err
	}

	a.flights = new(flight.Group)
	a.assertionMu = new(sync.Mutex)
	a.verified = token.NewCache(a.Token.CacheSize)
	a.byID = make(map[string]*MiniProgram, len(a.Apps))
	for _, mp := range a.Apps {
		if mp == nil {
			return errors.New("wechat: empty app entry")
		}
		mp.secret = repl.ReplaceKnown(mp.Secret, "")
		mp.inflight = make(chan struct{}, a.MaxInflight)
		a.byID[mp.AppID] = mp
	}

	if err := a.provisionStore(ctx); err != nil {
		return err
	}
	if err := a.provisionKeys(ctx, repl); err != nil {
		return err
	}
	if err := a.provisionAssertionKey(repl); err != nil {
		return err
	}

	// One transport per app instance: closed in Stop, so a reload does not
	// leave idle connections to WeChat behind. WeChat never redirects;
	// following one could carry a request to a host the operator did not
	// configure.
	a.httpc = &http.Client{CheckRedirect: noRedirects, Transport: &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 5 * time.Second,
	}}
	a.client = &wechat.Client{BaseURL: a.APIBase, HTTPClient: a.httpc, Observe: metrics.ObserveAPI}
	a.provisionAccessTokens()
	return a.feedRevocations(ctx)
}

func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// Validate checks what can only be checked after placeholders are expanded.
func (a *App) Validate() error {
	if len(a.Apps) == 0 {
		return errors.New("wechat: no app configured; add 'app <appid> { secret <appsecret> }' to the wechat global option")
	}
	for _, mp := range a.Apps {
		if err := CheckAppID(mp.AppID); err != nil {
			return err
		}
		if mp.secret == "" {
			return fmt.Errorf("wechat: app %s has no secret; set 'secret {env.WECHAT_SECRET}' (an empty environment variable or file counts as missing)", mp.AppID)
		}
	}
	if len(a.byID) != len(a.Apps) {
		return errors.New("wechat: the same appid is configured twice")
	}
	if a.Token.SessionLifetime < a.Token.TTL {
		return fmt.Errorf("wechat: token session_lifetime %v is shorter than its ttl %v: a session would end before its first token", time.Duration(a.Token.SessionLifetime), time.Duration(a.Token.TTL))
	}
	if a.APIBase != "" && !strings.HasPrefix(a.APIBase, "http://") && !strings.HasPrefix(a.APIBase, "https://") {
		return fmt.Errorf("wechat: api_base %q must be an http:// or https:// origin", a.APIBase)
	}
	return nil
}

// CheckAppID reports whether id has the shape of a Mini Program appid.
func CheckAppID(id string) error {
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

// Cleanup stops feeding the local revocations from the store.
func (a *App) Cleanup() error {
	if a.stopFeed != nil {
		a.stopFeed()
	}
	return nil
}

// FromContext returns the configured wechat app, for a handler's
// Provision. It errors clearly when the global option is missing, where
// ctx.App would silently make an empty app.
func FromContext(ctx caddy.Context) (*App, error) {
	v, err := ctx.AppIfConfigured("wechat")
	if errors.Is(err, caddy.ErrNotConfigured) {
		return nil, errors.New("the wechat global option is missing: add a 'wechat { app <appid> { secret ... } }' block at the top of the Caddyfile")
	}
	if err != nil {
		return nil, err
	}
	return v.(*App), nil
}

// Interface guards
var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.Validator    = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
)
