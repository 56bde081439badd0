package integration

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/caddy-wechat/caddy-wechat/internal/testenv"

	"github.com/golang-jwt/jwt/v5"
)

func TestLoginHappyPathAndToken(t *testing.T) {
	up := NewUpstream(t)
	wx := NewFakeWeChat(t, func(w http.ResponseWriter, r *http.Request, code string, _ int) { OKAnswer(w, code) })
	StartCaddy(t, StdConfig(wx.URL, up.URL))
	c := NewClient()

	tok, body := Login(t, c, "ucode1")
	if body["token_type"] != "Bearer" || body["openid"] != "o-ucode1" || body["unionid"] != "u-ucode1" {
		t.Fatalf("login body: %v", body)
	}
	if exp := body["expires_in"].(float64); exp < 3590 || exp > 3600 {
		t.Fatalf("expires_in %v, want about 3600", exp)
	}
	if strings.Contains(fmt.Sprint(body), "tiihtNczf5v6AKRyjwEUhQ==") {
		t.Fatal("session_key leaked into the login response")
	}

	// Any standard JWT library verifies the token with signing_key itself.
	parsed, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return []byte(SigningKey), nil }, jwt.WithValidMethods([]string{"HS256"}))
	if err != nil {
		t.Fatalf("token does not verify with signing_key: %v", err)
	}
	claims := parsed.Claims.(jwt.MapClaims)
	if claims["sub"] != "o-ucode1" || claims["aud"] != AppID || claims["unionid"] != "u-ucode1" || claims["iss"] == nil || claims["jti"] == nil || claims["iat"] == nil || claims["exp"] == nil {
		t.Fatalf("claims: %v", claims)
	}
	if parsed.Header["kid"] == nil {
		t.Fatal("no kid in the token header")
	}
	payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	if strings.Contains(string(payload), "tiihtNczf5v6AKRyjwEUhQ") {
		t.Fatal("session_key in clear inside the token")
	}

	// The values were URL-escaped and the secret sent to WeChat.
	q, _ := url.ParseQuery(wx.LastQuery)
	if q.Get("appid") != AppID || q.Get("secret") != Secret || q.Get("grant_type") != "authorization_code" {
		t.Fatalf("jscode2session query: %v", q)
	}

	st, _, got := Do(t, c, "GET", At(MainPort, "/api/me"), Bearer(tok), "")
	if st != 200 {
		t.Fatalf("gate status %d: %v", st, got)
	}
	h, _ := up.Received()
	if h.Get("X-Openid") != "o-ucode1" || h.Get("X-Unionid") != "u-ucode1" || h.Get("X-Wechat-Appid") != AppID {
		t.Fatalf("upstream identity headers: %v", h)
	}
	if h.Get("Authorization") != "" {
		t.Fatal("the bearer token reached the upstream")
	}
}

func TestLoginCodeEscapingAndForm(t *testing.T) {
	up := NewUpstream(t)
	wx := NewFakeWeChat(t, func(w http.ResponseWriter, r *http.Request, code string, _ int) { OKAnswer(w, code) })
	StartCaddy(t, StdConfig(wx.URL, up.URL))
	c := NewClient()

	code := "a&b#c+d e=f?"
	form := url.Values{"code": {code}, "appid": {AppID}}.Encode()
	st, _, body := Do(t, c, "POST", At(MainPort, "/login"), http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, form)
	if st != 200 || body["openid"] != FakeOpenID(code) {
		t.Fatalf("form login: %d %v", st, body)
	}
	if wx.Count(code) != 1 {
		t.Fatalf("WeChat saw the code %d times intact", wx.Count(code))
	}
}

func TestLoginBadRequests(t *testing.T) {
	up := NewUpstream(t)
	wx := NewFakeWeChat(t, func(w http.ResponseWriter, r *http.Request, code string, _ int) { OKAnswer(w, code) })
	StartCaddy(t, StdConfig(wx.URL, up.URL))
	c := NewClient()
	jsonHdr := http.Header{"Content-Type": {"application/json"}}

	st, hdr, body := Do(t, c, "GET", At(MainPort, "/login"), nil, "")
	if st != 405 || hdr.Get("Allow") != "POST" || body["error"] == nil {
		t.Fatalf("GET /login: %d %v %v", st, hdr, body)
	}
	cases := []struct {
		name, body string
		status     int
		code       string
	}{
		{"empty body", ``, 400, "invalid_request"},
		{"malformed JSON", `{"code":`, 400, "invalid_request"},
		{"no code", `{"appid":"` + AppID + `"}`, 400, "invalid_request"},
		{"empty code", `{"code":"","appid":"` + AppID + `"}`, 400, "invalid_request"},
		{"code not a string", `{"code":12,"appid":"` + AppID + `"}`, 400, "invalid_request"},
		{"unknown appid", `{"code":"x","appid":"wxffffffffffffffff"}`, 400, "invalid_request"},
		{"appid needed with two apps", `{"code":"x"}`, 400, "invalid_request"},
		{"too large", `{"code":"` + strings.Repeat("a", 10000) + `"}`, 413, "request_too_large"},
	}
	for _, tc := range cases {
		st, _, body := Do(t, c, "POST", At(MainPort, "/login"), jsonHdr, tc.body)
		if st != tc.status || body["error"] != tc.code || body["message"] == "" {
			t.Errorf("%s: got %d %v, want %d %s", tc.name, st, body, tc.status, tc.code)
		}
	}
	if n := len(wx.Calls); n != 0 {
		t.Fatalf("bad requests reached WeChat %d times", n)
	}
}

func TestLoginErrorMapping(t *testing.T) {
	up := NewUpstream(t)
	wx := NewFakeWeChat(t, func(w http.ResponseWriter, r *http.Request, code string, call int) {
		switch {
		case code == "hang":
			<-r.Context().Done()
		case code == "html":
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(502)
			_, _ = w.Write([]byte("<html>bad gateway</html>"))
		case code == "notjson":
			WeChatJSON(w, "just a string")
		case code == "busyonce" && call == 1:
			WeChatJSON(w, map[string]any{"errcode": -1, "errmsg": "system error, rid: 1"})
		case code == "busyonce":
			OKAnswer(w, code)
		case strings.HasPrefix(code, "err"):
			var n int
			fmt.Sscanf(code, "err%d", &n)
			WeChatJSON(w, map[string]any{"errcode": n, "errmsg": "echo of " + code + " rid: 6f2a"})
		default:
			OKAnswer(w, code)
		}
	})
	StartCaddy(t, StdConfig(wx.URL, up.URL))
	c := NewClient()

	cases := []struct {
		code       string
		status     int
		err        string
		retryAfter bool
		calls      int
	}{
		{"err40029", 401, "invalid_code", false, 1},
		{"err40163", 401, "invalid_code", false, 1},
		{"err40226", 403, "user_blocked", false, 1},
		{"err45011", 429, "rate_limited", true, 1},
		{"err-1", 503, "wechat_busy", true, 3},
		{"busyonce", 200, "", false, 2},
		{"hang", 504, "wechat_timeout", false, 1},
		{"html", 502, "wechat_error", false, 1},
		{"notjson", 502, "wechat_error", false, 1},
		{"err99999", 502, "wechat_error", false, 1},
		{"err40013", 502, "wechat_error", false, 1},
		{"err40125", 502, "wechat_error", false, 1},
		{"err41002", 502, "wechat_error", false, 1},
	}
	for _, tc := range cases {
		start := time.Now()
		st, hdr, body := Do(t, c, "POST", At(MainPort, "/login"), nil, fmt.Sprintf(`{"code":%q,"appid":%q}`, tc.code, AppID))
		if st != tc.status || (tc.err != "" && body["error"] != tc.err) {
			t.Errorf("%s: got %d %v, want %d %s", tc.code, st, body, tc.status, tc.err)
		}
		if tc.retryAfter && hdr.Get("Retry-After") == "" {
			t.Errorf("%s: no Retry-After", tc.code)
		}
		if got := wx.Count(tc.code); got != tc.calls {
			t.Errorf("%s: WeChat called %d times, want %d", tc.code, got, tc.calls)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("%s: took %v, beyond the 1s timeout", tc.code, d)
		}
		raw, _ := json.Marshal(body)
		if strings.Contains(string(raw), tc.code) && tc.status != 200 || strings.Contains(string(raw), Secret) {
			t.Errorf("%s: error body echoes the code or the secret: %s", tc.code, raw)
		}
	}
}

func TestLoginUnreachableWeChat(t *testing.T) {
	up := NewUpstream(t)
	StartCaddy(t, StdConfig("http://127.0.0.1:1", up.URL))
	st, _, body := Do(t, NewClient(), "POST", At(MainPort, "/login"), nil, `{"code":"x","appid":"`+AppID+`"}`)
	if st != 502 || body["error"] != "wechat_error" {
		t.Fatalf("unreachable: %d %v", st, body)
	}
}

func TestLoginConcurrentDuplicateCode(t *testing.T) {
	up := NewUpstream(t)
	wx := NewFakeWeChat(t, func(w http.ResponseWriter, r *http.Request, code string, call int) {
		if call > 1 {
			WeChatJSON(w, map[string]any{"errcode": 40163, "errmsg": "code been used"})
			return
		}
		time.Sleep(300 * time.Millisecond)
		OKAnswer(w, code)
	})
	StartCaddy(t, StdConfig(wx.URL, up.URL))
	c := NewClient()

	var wg sync.WaitGroup
	statuses := make([]int, 8)
	for i := range statuses {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			statuses[i], _, _ = Do(t, c, "POST", At(MainPort, "/login"), nil, `{"code":"doubletap","appid":"`+AppID+`"}`)
		}(i)
	}
	wg.Wait()
	for i, st := range statuses {
		if st != 200 {
			t.Errorf("request %d: status %d", i, st)
		}
	}
	if n := wx.Count("doubletap"); n != 1 {
		t.Fatalf("WeChat saw the code %d times, want 1", n)
	}
}
