package mock

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// The simulator's access_token side: /cgi-bin/stable_token, the token
// check every other API runs, a generic API to call through wechat_api,
// and /mock/expire_token to make the held token stale on purpose.

func init() {
	mockRoutes["/cgi-bin/stable_token"] = (*Mock).stableToken
	mockRoutes["/cgi-bin/get_api_domain_ip"] = (*Mock).apiDomainIP
	mockRoutes["/wxa/mock/echo"] = (*Mock).echo
	mockRoutes["/mock/expire_token"] = (*Mock).expireToken
}

const (
	mockAccessTokenTTL = 2 * time.Hour
	// mockAccessTokenRotate is how long before expiry normal mode hands out a
	// new token, keeping the old one valid until it expires, as WeChat does.
	mockAccessTokenRotate = 5 * time.Minute
	// maxMockBody caps what the simulator reads from a request.
	maxMockBody = 64 << 10
)

// mockAccessTokens holds each app's current token and the one it replaced.
// Its zero value is ready to use, so mockState needs no setup for it.
type mockAccessTokens struct {
	mu sync.Mutex
	m  map[string]*mockAccessToken // appid
}

type mockAccessToken struct {
	cur, prev       string
	curExp, prevExp time.Time
}

// get returns the app's token and its remaining lifetime. Normal mode
// gives every caller the same token until the rotation window; force
// replaces it at once and invalidates the old one.
func (t *mockAccessTokens) get(appID string, force bool, now time.Time) (string, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = make(map[string]*mockAccessToken)
	}
	e := t.m[appID]
	switch {
	case e == nil || force || !now.Before(e.curExp):
		e = &mockAccessToken{cur: newMockAccessToken(), curExp: now.Add(mockAccessTokenTTL)}
		t.m[appID] = e
	case now.After(e.curExp.Add(-mockAccessTokenRotate)):
		e.prev, e.prevExp = e.cur, e.curExp
		e.cur, e.curExp = newMockAccessToken(), now.Add(mockAccessTokenTTL)
	}
	return e.cur, e.curExp.Sub(now)
}

// check returns the app a token belongs to, or WeChat's errcode for it:
// 41001 when missing, 42001 when expired, 40001 when unknown or replaced.
func (t *mockAccessTokens) check(tok string, now time.Time) (string, int) {
	if tok == "" {
		return "", 41001
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for appID, e := range t.m {
		switch tok {
		case e.cur:
			if now.Before(e.curExp) {
				return appID, 0
			}
			return "", 42001
		case e.prev:
			if now.Before(e.prevExp) {
				return appID, 0
			}
			return "", 42001
		}
	}
	return "", 40001
}

// expire forgets the app's tokens, so that a held token answers 40001
// and the next stable_token call issues a new one.
func (t *mockAccessTokens) expire(appID string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, appID)
}

func newMockAccessToken() string {
	b := make([]byte, 48)
	_, _ = rand.Read(b)
	return "mock_" + base64.RawURLEncoding.EncodeToString(b)
}

var mockAccessTokenErrs = map[int]string{
	41001: "access_token missing",
	40001: "invalid credential, access_token is invalid or not latest",
	42001: "access_token expired",
}

// tokenApp runs the access_token check of every token-protected API and
// answers the error itself; ok is false when it did.
func (m *Mock) tokenApp(w http.ResponseWriter, r *http.Request) (appID string, ok bool) {
	appID, code := m.state.accessTokens.check(r.URL.Query().Get("access_token"), time.Now())
	if code != 0 {
		mockAnswer(w, http.StatusOK, mockErr(code, mockAccessTokenErrs[code]))
		return "", false
	}
	return appID, true
}

// readMockJSON decodes a POST JSON body, answering as WeChat does for a
// wrong method (43002) or a body that is not JSON (47001).
func readMockJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if r.Method != http.MethodPost {
		mockAnswer(w, http.StatusOK, mockErr(43002, "require POST method"))
		return false
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxMockBody))
	if err != nil || json.Unmarshal(body, v) != nil {
		mockAnswer(w, http.StatusOK, mockErr(47001, "data format error"))
		return false
	}
	return true
}

func (m *Mock) stableToken(w http.ResponseWriter, r *http.Request) {
	var req struct {
		GrantType    string `json:"grant_type"`
		AppID        string `json:"appid"`
		Secret       string `json:"secret"`
		ForceRefresh bool   `json:"force_refresh"`
	}
	if !readMockJSON(w, r, &req) {
		return
	}
	if req.GrantType != "client_credential" {
		mockAnswer(w, http.StatusOK, mockErr(40002, "invalid grant_type"))
		return
	}
	if e := m.checkApp(req.AppID, req.Secret); e != nil {
		mockAnswer(w, http.StatusOK, e)
		return
	}
	tok, left := m.state.accessTokens.get(req.AppID, req.ForceRefresh, time.Now())
	mockAnswer(w, http.StatusOK, map[string]any{"access_token": tok, "expires_in": int64(left / time.Second)})
}

// expireToken is development-only: POST {"appid": "..."} makes the app's
// current token stale, to show the 40001 retry in a demo or a test.
func (m *Mock) expireToken(w http.ResponseWriter, r *http.Request) {
	var req struct {
		AppID string `json:"appid"`
	}
	if !readMockJSON(w, r, &req) {
		return
	}
	mp, ok := m.app.Program(req.AppID)
	if !ok {
		mockAnswer(w, http.StatusOK, mockErr(40013, "invalid appid"))
		return
	}
	m.state.accessTokens.expire(mp.AppID)
	mockAnswer(w, http.StatusOK, map[string]any{"errcode": 0, "errmsg": "ok"})
}

// apiDomainIP is a real, harmless WeChat API: the IPs of api.weixin.qq.com.
func (m *Mock) apiDomainIP(w http.ResponseWriter, r *http.Request) {
	if _, ok := m.tokenApp(w, r); !ok {
		return
	}
	mockAnswer(w, http.StatusOK, map[string]any{"ip_list": []string{"127.0.0.1"}})
}

// echo stands for any token-protected API: it answers with what it got,
// except the access_token, so callers of wechat_api can see what passed.
func (m *Mock) echo(w http.ResponseWriter, r *http.Request) {
	appID, ok := m.tokenApp(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	q.Del("access_token")
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxMockBody))
	mockAnswer(w, http.StatusOK, map[string]any{
		"errcode":      0,
		"errmsg":       "ok",
		"appid":        appID,
		"method":       r.Method,
		"query":        q.Encode(),
		"body":         string(body),
		"content_type": r.Header.Get("Content-Type"),
		"has_cookie":   r.Header.Get("Cookie") != "",
		"has_auth":     strings.TrimSpace(r.Header.Get("Authorization")) != "",
	})
}
