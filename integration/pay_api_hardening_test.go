package integration

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	. "github.com/caddy-wechat/caddy-wechat/internal/testenv"
)

// TestPayAPIRefusals: the backend's mistakes are a 4xx {error, message}
// and reach WeChat Pay not at all: a method WeChat Pay does not take, a
// path outside /v3/, another merchant's mchid, an app the merchant does
// not take payments for, a body that is not one JSON object or gives a
// field twice, a body over 1 MiB, a dot segment.
func TestPayAPIRefusals(t *testing.T) {
	wx := NewFakePay(t)
	StartCaddy(t, PayConfig(PaySetup{APIBase: wx.URL, Files: WritePayFiles(t)}))

	for _, c := range []struct {
		name, method, path, body string
		status                   int
		code, says               string
	}{
		{"method", "OPTIONS", "/v3/pay/transactions/jsapi", "", 405, "method_not_allowed", "GET, POST"},
		{"not v3", "GET", "/v2/pay/orderquery", "", 400, "invalid_request", "/v3/"},
		{"root", "GET", "/", "", 400, "invalid_request", "/v3/"},
		{"dot segment", "GET", "/v3/pay/%2e%2e/certificates", "", 400, "invalid_request", "/v3/"},
		{"other mchid", "POST", "/v3/pay/transactions/jsapi", `{"mchid":"1900000009","description":"d"}`, 400, "invalid_request", "1900000009"},
		{"mchid not a string", "POST", "/v3/pay/transactions/jsapi", `{"mchid":1900000001}`, 400, "invalid_request", "mchid must be a string"},
		{"other app", "POST", "/v3/pay/transactions/jsapi", `{"appid":"` + AppID2 + `"}`, 400, "invalid_request", AppID2},
		{"not an object", "POST", "/v3/pay/transactions/jsapi", `["description"]`, 400, "invalid_request", "JSON object"},
		{"null", "POST", "/v3/pay/transactions/jsapi", `null`, 400, "invalid_request", "JSON object"},
		{"trailing data", "POST", "/v3/pay/transactions/jsapi", `{"a":1}{"b":2}`, 400, "invalid_request", "JSON object"},
		{"duplicate field", "POST", "/v3/pay/transactions/jsapi", `{"out_trade_no":"A1234567","out_trade_no":"B1234567"}`, 400, "invalid_request", "more than once"},
		{"duplicate mchid", "POST", "/v3/pay/transactions/out-trade-no/ORDER0001/close", `{"mchid":"1900000001","MCHID":"1900000009"}`, 400, "invalid_request", "more than once"},
		{"query mchid", "GET", "/v3/pay/transactions/id/42?mchid=1900000009", "", 400, "invalid_request", "1900000009"},
		{"query mchid twice", "GET", "/v3/pay/transactions/id/42?mchid=1900000001&mchid=1900000001", "", 400, "invalid_request", "more than once"},
		{"too large", "POST", "/v3/refund/domestic/refunds", `{"x":"` + strings.Repeat("a", 1<<20) + `"}`, 413, "request_too_large", "bytes"},
	} {
		before := len(wx.Received())
		st, _, raw := payCall(t, c.method, c.path, nil, c.body)
		ans := jsonOf(t, raw)
		if st != c.status || ans["error"] != c.code || !strings.Contains(fmt.Sprint(ans["message"]), c.says) {
			t.Errorf("%s: %d %s, want %d %s saying %q", c.name, st, raw, c.status, c.code, c.says)
		}
		if n := len(wx.Received()); n != before {
			t.Errorf("%s: reached WeChat Pay", c.name)
		}
	}
}

// TestPayAPIRefusesPublicClientsAndUsers: as wechat_api, the listener
// answers 403 to clients outside loopback and the private ranges unless
// allow_from lists them, and to any request that carries a user's login:
// a wechat_auth in front of it must not hand the merchant's powers to
// every user.
func TestPayAPIRefusesPublicClientsAndUsers(t *testing.T) {
	wx := NewFakePay(t)
	login := NewFakeWeChat(t, func(w http.ResponseWriter, r *http.Request, code string, _ int) { OKAnswer(w, code) })
	allowPort := FreePort(t)
	StartCaddy(t, PayConfig(PaySetup{
		APIBase: wx.URL, Files: WritePayFiles(t), WeChatBase: login.URL,
		Global: "servers {\n\t\ttrusted_proxies static 127.0.0.1/32 ::1/128\n\t\tclient_ip_headers X-Forwarded-For\n\t}",
		Sites:  fmt.Sprintf(":%d {\n\tbind 127.0.0.1\n\twechatpay_api merchant %s {\n\t\tallow_from 203.0.113.0/24\n\t}\n}\n", allowPort, PayMchID),
	}))
	c := NewClient()
	query := "/v3/pay/transactions/out-trade-no/ORDER0001"
	for _, tc := range []struct {
		port int
		xff  string
		want int
	}{
		{PayAPIPort, "", 200},
		{PayAPIPort, "10.1.2.3", 200},
		{PayAPIPort, "fd00::1", 200},
		{PayAPIPort, "8.8.8.8", 403},
		{PayAPIPort, "::ffff:8.8.8.8", 403},
		{PayAPIPort, "203.0.113.7", 403},
		{allowPort, "203.0.113.7", 200},
		{allowPort, "198.51.100.1", 403},
	} {
		before := len(wx.Received())
		h := http.Header{}
		if tc.xff != "" {
			h.Set("X-Forwarded-For", tc.xff)
		}
		st, _, body := Do(t, c, "GET", fmt.Sprintf("http://127.0.0.1:%d%s", tc.port, query), h, "")
		if st != tc.want {
			t.Errorf("port %d from %q: %d %v, want %d", tc.port, tc.xff, st, body, tc.want)
		}
		if tc.want == 403 && (body["error"] != "forbidden" || len(wx.Received()) != before) {
			t.Errorf("from %q: %v, or it reached WeChat Pay", tc.xff, body)
		}
	}

	// Behind the gate, with a user's token: refused.
	tok, _ := LoginAt(t, c, PayEdgePort, "pay-user.1", AppID)
	before := len(wx.Received())
	st, _, body := Do(t, c, "GET", fmt.Sprintf("http://127.0.0.1:%d/pay%s", PayEdgePort, query), Bearer(tok), "")
	if st != 403 || body["error"] != "forbidden" || !strings.Contains(fmt.Sprint(body["message"]), "wechat_auth") || len(wx.Received()) != before {
		t.Fatalf("a user's token on wechatpay_api: %d %v", st, body)
	}
}
