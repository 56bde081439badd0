// Package pay is WeChat Pay v3 at the edge: the "wechatpay" app, which
// holds the merchants (their API keys, their APIv3 keys and WeChat Pay's
// keys), and its two handlers, wechatpay_api for the shop's backends on an
// internal listener and wechatpay_notify for WeChat Pay's notifications.
// The crypto and the client are the Caddy-free wechatpay package. It
// depends on the core one way: it takes the wechat app's store and appids
// when that app is configured, and nothing in caddymodule knows of it.
package pay

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-wechat/caddy-wechat/caddymodule"
	"github.com/caddy-wechat/caddy-wechat/internal/metrics"
	"github.com/caddy-wechat/caddy-wechat/internal/store"
	"github.com/caddy-wechat/caddy-wechat/wechatpay"
)

func init() {
	caddy.RegisterModule(App{})
}

// defaultTimeout bounds one call to WeChat Pay when Timeout is not set.
// WeChat Pay's own SDKs wait 10 s at most for an answer.
const defaultTimeout = 10 * time.Second

// App is the "wechatpay" app: the merchants this Caddy acts for, and the
// client each one calls WeChat Pay with. Handlers find it with
// FromContext.
type App struct {
	// APIBase is WeChat Pay's API origin. Default:
	// https://api.mch.weixin.qq.com. Point it at a wechatpay_mock site for
	// development and tests.
	APIBase string `json:"api_base,omitempty"`

	// Timeout bounds one call to WeChat Pay, and one download of the
	// platform certificates. Default: 10s.
	Timeout caddy.Duration `json:"timeout,omitempty"`

	// Merchants are the merchant accounts, one entry per mchid.
	Merchants []*Merchant `json:"merchants,omitempty"`

	byID   map[string]*Merchant
	values store.Values
	httpc  *http.Client
	logger *zap.Logger

	bg *background // the certificate refreshers
}

// background is what Start starts and Stop ends.
type background struct {
	once    sync.Once
	cancel  context.CancelFunc
	running sync.WaitGroup
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "wechatpay",
		New: func() caddy.Module { return new(App) },
	}
}

// Provision expands placeholders, parses every key, finds the store, and
// sets up one client per merchant. It makes no network call: caddy
// validate provisions too, and the certificates are downloaded from
// Start on.
func (a *App) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	a.bg = new(background)
	if err := metrics.RegisterPay(ctx.GetMetricsRegistry()); err != nil {
		return err
	}
	if a.Timeout <= 0 {
		a.Timeout = caddy.Duration(defaultTimeout)
	}
	repl := caddy.NewReplacer()
	a.APIBase = repl.ReplaceKnown(a.APIBase, "")

	wechatApp, err := wechatApp(ctx)
	if err != nil {
		return err
	}
	if err := a.provisionStore(ctx, wechatApp); err != nil {
		return err
	}

	// One transport for the config: closed in Stop, so that a reload
	// leaves no idle connections to WeChat Pay behind. Redirects are
	// never followed (the client refuses them as well): a signed request
	// goes only to api_base.
	a.httpc = &http.Client{CheckRedirect: noRedirects, Transport: &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		MaxIdleConnsPerHost: 32,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 5 * time.Second,
	}}

	a.byID = make(map[string]*Merchant, len(a.Merchants))
	for _, m := range a.Merchants {
		if m == nil {
			return errors.New("wechatpay: empty merchant entry")
		}
		if _, dup := a.byID[m.MchID]; dup {
			return fmt.Errorf("wechatpay: merchant %s is configured twice; merge the two blocks", m.MchID)
		}
		if err := m.provision(a, repl, wechatApp); err != nil {
			return err
		}
		a.byID[m.MchID] = m
	}
	return nil
}

func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// wechatApp returns the wechat app when it is configured, and nil when it
// is not: pay works without Mini Program login.
func wechatApp(ctx caddy.Context) (*caddymodule.App, error) {
	v, err := ctx.AppIfConfigured("wechat")
	if errors.Is(err, caddy.ErrNotConfigured) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return v.(*caddymodule.App), nil
}

// provisionStore takes the wechat app's store, so that notification ids
// are shared wherever its other state is (Redis across instances). Without
// the wechat app, it loads the memory store module itself: the process's
// one memory store, kept across reloads, which serves one instance.
func (a *App) provisionStore(ctx caddy.Context, wechatApp *caddymodule.App) error {
	if wechatApp != nil {
		a.values = wechatApp.Store().Values()
		return nil
	}
	mod, err := ctx.LoadModuleByID("wechat.stores.memory", nil)
	if err != nil {
		return fmt.Errorf("wechatpay: loading the memory store: %v", err)
	}
	st, ok := mod.(store.Store)
	if !ok {
		return fmt.Errorf("wechatpay: module %T is not a store", mod)
	}
	a.values = st.Values()
	return nil
}

// Validate checks the merchants once their placeholders are expanded.
func (a *App) Validate() error {
	if len(a.Merchants) == 0 {
		return errors.New("wechatpay: no merchant configured; add 'merchant <mchid> { private_key …  serial_no …  apiv3_key …  public_key … }' to the wechatpay global option")
	}
	if err := checkOrigin("api_base", a.APIBase); err != nil {
		return err
	}
	return nil
}

// Start downloads the platform certificates of the merchants that use
// them, and keeps them fresh, in the background: WeChat Pay (or the
// simulator, served by this very Caddy) may not answer yet, and a
// verification that meets a serial it does not know asks for a download
// itself.
func (a *App) Start() error {
	ctx, cancel := context.WithCancel(context.Background())
	a.bg.cancel = cancel
	for _, m := range a.Merchants {
		if m.certs == nil {
			continue
		}
		a.bg.running.Add(1)
		go func() {
			defer a.bg.running.Done()
			m.certs.run(ctx)
		}()
	}
	return nil
}

// Stop ends the certificate refreshers and releases outbound connections.
func (a *App) Stop() error {
	a.stop()
	return nil
}

// Cleanup does what Stop does, for a config that was provisioned but
// never started (a failed load, caddy validate).
func (a *App) Cleanup() error {
	a.stop()
	return nil
}

func (a *App) stop() {
	if a.bg == nil {
		return // never provisioned
	}
	a.bg.once.Do(func() {
		if a.bg.cancel != nil {
			a.bg.cancel()
		}
		a.bg.running.Wait()
		if a.httpc != nil {
			a.httpc.CloseIdleConnections()
		}
	})
}

// Merchant returns the merchant mchid, or the only one when mchid is
// empty and exactly one is configured.
func (a *App) Merchant(mchid string) (*Merchant, bool) {
	if mchid == "" && len(a.Merchants) == 1 {
		return a.Merchants[0], true
	}
	m, ok := a.byID[mchid]
	return m, ok
}

// MerchantIDs lists the configured mchids, sorted.
func (a *App) MerchantIDs() []string {
	ids := make([]string, 0, len(a.Merchants))
	for _, m := range a.Merchants {
		ids = append(ids, m.MchID)
	}
	sort.Strings(ids)
	return ids
}

// pick finds the merchant a handler acts for: the one it names, or the
// only one.
func (a *App) pick(directive, mchid string) (*Merchant, error) {
	if mchid == "" && len(a.Merchants) > 1 {
		return nil, fmt.Errorf("%s: %d merchants are configured; choose one with 'merchant <mchid>'", directive, len(a.Merchants))
	}
	m, ok := a.Merchant(mchid)
	if !ok {
		return nil, fmt.Errorf("%s: merchant %s is not configured in the wechatpay global option", directive, mchid)
	}
	return m, nil
}

// FromContext returns the configured wechatpay app, for a handler's
// Provision. It errors clearly when the global option is missing, where
// ctx.App would silently make an empty app.
func FromContext(ctx caddy.Context) (*App, error) {
	v, err := ctx.AppIfConfigured("wechatpay")
	if errors.Is(err, caddy.ErrNotConfigured) {
		return nil, errors.New("the wechatpay global option is missing: add a 'wechatpay { merchant <mchid> { … } }' block at the top of the Caddyfile")
	}
	if err != nil {
		return nil, err
	}
	return v.(*App), nil
}

// client is how a merchant's calls go out.
func (a *App) client(m *Merchant) *wechatpay.Client {
	return &wechatpay.Client{
		BaseURL:    a.APIBase,
		HTTPClient: a.httpc,
		Merchant:   m.signer,
		Verifier:   m.verifier,
		Refresh:    m.refresh,
	}
}

// Interface guards
var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.Validator    = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
)

// baseURL is api_base, or WeChat Pay's own origin.
func (a *App) baseURL() string {
	if a.APIBase == "" {
		return wechatpay.DefaultBaseURL
	}
	return a.APIBase
}
