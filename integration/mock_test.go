package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/caddy-wechat/caddy-wechat/internal/testenv"
)

// TestMockThroughCaddy logs in against the simulator itself, as the demo
// does, and checks WeChat's shapes and quirks.
func TestMockThroughCaddy(t *testing.T) {
	ShortRepeatWindow(t)
	up := NewUpstream(t)
	StartCaddy(t, StdConfig(At(MockPort, ""), up.URL))
	c := NewClient()

	tokA1, a1 := Login(t, c, "alice.1")
	_, a2 := Login(t, c, "alice.2")
	_, b1 := Login(t, c, "bob.1")
	if a1["openid"] != a2["openid"] || a1["openid"] == b1["openid"] || len(a1["openid"].(string)) != 28 {
		t.Fatalf("openids not stable per user: %v %v %v", a1["openid"], a2["openid"], b1["openid"])
	}
	if a1["unionid"] != nil {
		t.Fatalf("unexpected unionid: %v", a1)
	}
	_, u := Login(t, c, "union-carol.1")
	if u["unionid"] == nil || u["unionid"] == u["openid"] {
		t.Fatalf("union user has no unionid: %v", u)
	}

	// A repeat of alice.1 is the same answer; after the window, the
	// simulator's 40163 for a used code.
	if tok, _ := Login(t, c, "alice.1"); tok != tokA1 {
		t.Fatal("a repeated code got another token")
	}
	WaitRepeatWindow()
	for code, want := range map[string]int{"alice.1": 401, "err40029": 401, "err40226": 403, "err45011": 429, "err-1": 503, "html.1": 502, "hang.1": 504, "err40125": 502} {
		st, _, body := Do(t, c, "POST", At(MainPort, "/login"), nil, fmt.Sprintf(`{"code":%q,"appid":%q}`, code, AppID))
		if st != want {
			t.Errorf("code %s: %d %v, want %d", code, st, body, want)
		}
	}

	// The raw simulator answers like WeChat: HTTP 200, text/plain JSON.
	for _, tc := range []struct {
		q    url.Values
		code int
	}{
		{url.Values{"secret": {Secret}, "js_code": {"x"}, "grant_type": {"authorization_code"}}, 41002},
		{url.Values{"appid": {"wxffffffffffffffff"}, "secret": {Secret}, "js_code": {"x"}, "grant_type": {"authorization_code"}}, 40013},
		{url.Values{"appid": {AppID}, "secret": {"wrong"}, "js_code": {"x"}, "grant_type": {"authorization_code"}}, 40125},
		{url.Values{"appid": {AppID}, "secret": {Secret}, "grant_type": {"authorization_code"}}, 41008},
	} {
		resp, err := c.Get(At(MockPort, "/sns/jscode2session?"+tc.q.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var ans struct {
			ErrCode int    `json:"errcode"`
			ErrMsg  string `json:"errmsg"`
		}
		_ = json.Unmarshal(raw, &ans)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/plain" || ans.ErrCode != tc.code || !strings.Contains(ans.ErrMsg, "rid:") {
			t.Errorf("mock %v: %d %q %s", tc.q, resp.StatusCode, resp.Header.Get("Content-Type"), raw)
		}
	}
}

// TestGeneratedKeySurvivesReload leaves signing_key out: the key is made
// once, kept in Caddy's storage, and tokens stay valid across a reload.
func TestGeneratedKeySurvivesReload(t *testing.T) {
	up := NewUpstream(t)
	wx := NewFakeWeChat(t, func(w http.ResponseWriter, r *http.Request, code string, _ int) { OKAnswer(w, code) })
	dir := t.TempDir()
	t.Setenv("WECHAT_TEST_SECRET", Secret)
	cfg := func(ttl string) string {
		s := StdConfig(wx.URL, up.URL)
		s = strings.Replace(s, "\tsigning_key "+SigningKey+"\n", "", 1)
		s = strings.Replace(s, "ttl 1h", "ttl "+ttl, 1)
		s = strings.Replace(s, "secret "+Secret, "secret {env.WECHAT_TEST_SECRET}", 1)
		return strings.Replace(s, "\tadmin localhost:2999\n", "\tadmin localhost:2999\n\tstorage file_system "+dir+"\n", 1)
	}
	StartCaddy(t, cfg("1h"))
	c := NewClient()
	tok, _ := Login(t, c, "keyed")
	q, _ := url.ParseQuery(wx.LastQuery)
	if q.Get("secret") != Secret {
		t.Fatalf("the {env.*} secret was not expanded: %q", q.Get("secret"))
	}
	key, err := os.ReadFile(filepath.Join(dir, "wechat", "token_signing_key"))
	if err != nil || len(key) < 32 {
		t.Fatalf("generated key not in storage: %v (%d bytes)", err, len(key))
	}

	StartCaddy(t, cfg("2h")) // a real reload: the config differs
	if st, _, body := Do(t, c, "GET", At(MainPort, "/x"), Bearer(tok), ""); st != 200 {
		t.Fatalf("token refused after reload: %d %v", st, body)
	}
	if h, _ := up.Received(); h.Get("X-Openid") != "o-keyed" {
		t.Fatalf("identity after reload: %v", h)
	}
	again, _ := os.ReadFile(filepath.Join(dir, "wechat", "token_signing_key"))
	if string(again) != string(key) {
		t.Fatal("the generated key changed on reload")
	}
}
