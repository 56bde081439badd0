// Package mock is wechat_mock, a simulator of WeChat's server API for
// development and tests only: never point a production api_base at it.
// It is opt-in: build it in with
//
//	xcaddy build --with github.com/caddy-wechat/caddy-wechat --with github.com/caddy-wechat/caddy-wechat/mock
package mock

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddy-wechat/caddy-wechat/caddymodule"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/patrickmn/go-cache"
)

func init() {
	caddy.RegisterModule(Mock{})
	httpcaddyfile.RegisterHandlerDirective("wechat_mock", parseMock)
}

// Mock simulates WeChat's server API, for development and tests only:
// never point a production api_base at it. It checks appids and secrets
// against the wechat app, so the same Caddyfile drives both sides.
//
// Login codes steer it: a code is single-use (40163 after) and its part
// before the first '.' names the user, so "alice.1" and "alice.2" are two
// logins of one user with a stable openid per appid. Users whose name
// starts with "union" also get a unionid. Codes "err<N>..." answer errcode
// N (for example err-1, err40029, err45011, err40226), "hang..." never
// answers, and "html..." answers with an HTML error page.
type Mock struct {
	app   *caddymodule.App
	state *mockState
}

// CaddyModule returns the Caddy module information.
func (Mock) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.wechat_mock",
		New: func() caddy.Module { return new(Mock) },
	}
}

// mockPool keeps the simulator's state across reloads, as WeChat's would:
// a code used before a reload stays used after it.
var mockPool = caddy.NewUsagePool()

const mockPoolKey = "wechat_mock"

// mockState is the simulator's memory. Its caches have no go-cache
// janitor (whose goroutine only a finalizer stops); a ticker stopped in
// Destruct sweeps them instead.
type mockState struct {
	used         *cache.Cache // appid \x00 code: codes already exchanged
	sessions     *cache.Cache // appid \x00 openid: the user's current session_key
	stop         chan struct{}
	accessTokens mockAccessTokens // appid: its access_token; see accesstokens.go
}

func newMockState() (caddy.Destructor, error) {
	s := &mockState{
		used:     cache.New(5*time.Minute, 0),
		sessions: cache.New(24*time.Hour, 0),
		stop:     make(chan struct{}),
	}
	go s.sweep()
	return s, nil
}

func (s *mockState) sweep() {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.used.DeleteExpired()
			s.sessions.DeleteExpired()
		}
	}
}

// Destruct stops the sweeper when the last config using the mock unloads.
func (s *mockState) Destruct() error {
	close(s.stop)
	return nil
}

// Provision finds the wechat app and the shared simulator state.
func (m *Mock) Provision(ctx caddy.Context) error {
	app, err := caddymodule.FromContext(ctx)
	if err != nil {
		return err
	}
	m.app = app
	st, _, err := mockPool.LoadOrNew(mockPoolKey, newMockState)
	if err != nil {
		return err
	}
	m.state = st.(*mockState)
	return nil
}

// Cleanup releases this config's hold on the simulator state.
func (m *Mock) Cleanup() error {
	_, err := mockPool.Delete(mockPoolKey)
	return err
}

// mockRoutes maps a WeChat API path to the simulator's answer. Files that
// simulate more of the API add to it in their init.
var mockRoutes = map[string]func(m *Mock, w http.ResponseWriter, r *http.Request){
	"/sns/jscode2session": (*Mock).jscode2session,
}

func (m *Mock) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	if route, ok := mockRoutes[r.URL.Path]; ok {
		route(m, w, r)
		return nil
	}
	mockAnswer(w, http.StatusNotFound, mockErr(40066, "invalid url"))
	return nil
}

func (m *Mock) jscode2session(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	appID, secret, code := q.Get("appid"), q.Get("secret"), q.Get("js_code")
	if e := m.checkApp(appID, secret); e != nil {
		mockAnswer(w, http.StatusOK, e)
		return
	}
	switch {
	case code == "":
		mockAnswer(w, http.StatusOK, mockErr(41008, "missing code"))
		return
	case q.Get("grant_type") != "authorization_code":
		mockAnswer(w, http.StatusOK, mockErr(40002, "invalid grant_type"))
		return
	case strings.HasPrefix(code, "hang"):
		select {
		case <-r.Context().Done():
		case <-time.After(2 * time.Minute):
		}
		return
	case strings.HasPrefix(code, "html"):
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte("<html><body><h1>502 Bad Gateway</h1></body></html>"))
		return
	case strings.HasPrefix(code, "err"):
		if n, err := strconv.Atoi(strings.SplitN(code[3:], ".", 2)[0]); err == nil {
			mockAnswer(w, http.StatusOK, mockErr(n, "simulated error"))
			return
		}
	}
	if m.state.used.Add(appID+"\x00"+code, struct{}{}, cache.DefaultExpiration) != nil {
		mockAnswer(w, http.StatusOK, mockErr(40163, "code been used"))
		return
	}
	user, _, _ := strings.Cut(code, ".")
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	ans := map[string]any{
		"openid":      mockID(appID, user),
		"session_key": base64.StdEncoding.EncodeToString(key),
	}
	if strings.HasPrefix(user, "union") {
		ans["unionid"] = mockID("", user)
	}
	m.state.sessions.SetDefault(appID+"\x00"+ans["openid"].(string), ans["session_key"])
	mockAnswer(w, http.StatusOK, ans)
}

// checkApp answers as WeChat does for a missing or wrong appid or secret.
func (m *Mock) checkApp(appID, secret string) map[string]any {
	switch {
	case appID == "":
		return mockErr(41002, "appid missing")
	case secret == "":
		return mockErr(41004, "appsecret missing")
	}
	switch m.app.CheckSecret(appID, secret) {
	case caddymodule.UnknownApp:
		return mockErr(40013, "invalid appid")
	case caddymodule.WrongSecret:
		return mockErr(40125, "invalid appsecret")
	}
	return nil
}

// mockID makes an openid-shaped id (28 characters starting with 'o'),
// stable for the same inputs. An empty appid gives a unionid, which is the
// same across apps.
func mockID(appID, user string) string {
	sum := sha256.Sum256([]byte("caddy-wechat mock\x00" + appID + "\x00" + user))
	return "o" + base64.RawURLEncoding.EncodeToString(sum[:])[:27]
}

func mockErr(code int, msg string) map[string]any {
	return map[string]any{"errcode": code, "errmsg": mockErrMsg(msg)}
}

func mockErrMsg(msg string) string {
	rid := make([]byte, 6)
	_, _ = rand.Read(rid)
	return fmt.Sprintf("%s, rid: %s", msg, hex.EncodeToString(rid))
}

// mockAnswer writes JSON labelled text/plain, as WeChat does.
func mockAnswer(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Mock)(nil)
	_ caddy.CleanerUpper          = (*Mock)(nil)
	_ caddyhttp.MiddlewareHandler = (*Mock)(nil)
)
