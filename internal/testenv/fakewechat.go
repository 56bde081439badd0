package testenv

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/caddy-wechat/caddy-wechat/wechat"
)

// FakeWeChat answers jscode2session by calling answer with the code; it
// counts calls per code.
type FakeWeChat struct {
	*httptest.Server
	// Mu guards Calls and LastQuery; tests that read them take it.
	Mu        sync.Mutex
	Calls     map[string]int
	LastQuery string // raw query of the last call
}

func NewFakeWeChat(t *testing.T, answer func(w http.ResponseWriter, r *http.Request, code string, call int)) *FakeWeChat {
	f := &FakeWeChat{Calls: map[string]int{}}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code := r.URL.Query().Get("js_code")
		f.Mu.Lock()
		f.Calls[code]++
		n := f.Calls[code]
		f.LastQuery = r.URL.RawQuery
		f.Mu.Unlock()
		answer(w, r, code, n)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *FakeWeChat) Count(code string) int {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	return f.Calls[code]
}

// WeChatJSON writes WeChat-style JSON, labelled text/plain.
func WeChatJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "text/plain")
	_ = json.NewEncoder(w).Encode(v)
}

// OKAnswer is a success for code, with a unionid for codes starting "u".
func OKAnswer(w http.ResponseWriter, code string) {
	ans := map[string]any{"openid": FakeOpenID(code), "session_key": "tiihtNczf5v6AKRyjwEUhQ=="}
	if strings.HasPrefix(code, "u") {
		ans["unionid"] = "u-" + code
	}
	WeChatJSON(w, ans)
}

// FakeOpenID is the fake's openid for code: "o-" and the code, or, for a
// code with characters an openid cannot have, a hash of it.
func FakeOpenID(code string) string {
	if wechat.ValidID("o-" + code) {
		return "o-" + code
	}
	sum := sha256.Sum256([]byte(code))
	return "o-" + hex.EncodeToString(sum[:12])
}

// StdConfig is a Caddyfile with the sites every integration test uses:
// the gate on mainPort, optional on optPort, handle_errors on styledPort,
