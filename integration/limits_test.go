package integration

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	. "github.com/caddy-wechat/caddy-wechat/internal/testenv"
)

func TestLoginRateLimits(t *testing.T) {
	up := NewUpstream(t)
	wx := NewFakeWeChat(t, func(w http.ResponseWriter, r *http.Request, code string, _ int) { OKAnswer(w, code) })
	cfg := strings.Replace(StdConfig(wx.URL, up.URL), "rate_limit client 100000 1m", "rate_limit client 3 1m\n\t\trate_limit app off", 1)
	StartCaddy(t, cfg)
	c := NewClient()
	for i := 0; i < 3; i++ {
		Login(t, c, fmt.Sprintf("rl%d", i))
	}
	st, h, body := Do(t, c, "POST", At(MainPort, "/login"), nil, `{"code":"rl9","appid":"`+AppID+`"}`)
	secs, _ := strconv.Atoi(h.Get("Retry-After"))
	if st != 429 || body["error"] != "rate_limited" || secs < 1 || secs > 60 {
		t.Fatalf("4th login from one client: %d %v Retry-After %q", st, body, h.Get("Retry-After"))
	}
	if wx.Count("rl9") != 0 {
		t.Fatal("a rate-limited login reached WeChat")
	}

	// Per app: the client limit is off, the app allows two.
	cfg = strings.Replace(StdConfig(wx.URL, up.URL), "rate_limit client 100000 1m", "rate_limit client off\n\t\trate_limit app 2 1m", 1)
	StartCaddy(t, cfg)
	Login(t, c, "app1")
	Login(t, c, "app2")
	if st, h, _ := Do(t, c, "POST", At(MainPort, "/login"), nil, `{"code":"app3","appid":"`+AppID+`"}`); st != 429 || h.Get("Retry-After") == "" {
		t.Fatalf("3rd login for the app: %d", st)
	}
	// The other app has its own budget.
	if st, _, body := Do(t, c, "POST", At(MainPort, "/login"), nil, `{"code":"other1","appid":"`+AppID2+`"}`); st != 200 {
		t.Fatalf("other app: %d %v", st, body)
	}
}

// TestMetricsExposed checks the collectors on Caddy's /metrics.
func TestMetricsExposed(t *testing.T) {
	up := NewUpstream(t)
	wx := NewFakeWeChat(t, func(w http.ResponseWriter, r *http.Request, code string, _ int) {
		if code == "bad" {
			WeChatJSON(w, map[string]any{"errcode": 40029, "errmsg": "invalid code"})
			return
		}
		OKAnswer(w, code)
	})
	cfg := strings.Replace(StdConfig(wx.URL, up.URL), "rate_limit client 100000 1m", "rate_limit client 1 1m", 1)
	StartCaddy(t, cfg)
	c := NewClient()
	tok, _ := Login(t, c, "metrics1")
	Do(t, c, "POST", At(MainPort, "/login"), nil, `{"code":"bad","appid":"`+AppID+`"}`) // rate limited
	Do(t, c, "GET", At(MainPort, "/x"), Bearer(tok), "")
	Do(t, c, "GET", At(MainPort, "/x"), nil, "")
	Do(t, c, "GET", At(MainPort, "/x"), Bearer("x.y.z"), "")
	Do(t, c, "GET", At(OptPort, "/x"), nil, "")
	Do(t, c, "GET", At(MainPort, "/login"), nil, "") // 405

	resp, err := c.Get(AdminURL("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(raw)
	for _, want := range []string{
		`caddy_wechat_logins_total{errcode="",result="ok"}`,
		`caddy_wechat_logins_total{errcode="",result="rate_limited"}`,
		`caddy_wechat_logins_total{errcode="",result="method_not_allowed"}`,
		`caddy_wechat_api_request_duration_seconds_count{api="jscode2session"}`,
		`caddy_wechat_gate_decisions_total{result="allowed"}`,
		`caddy_wechat_gate_decisions_total{result="unauthorized"}`,
		`caddy_wechat_gate_decisions_total{result="invalid_token"}`,
		`caddy_wechat_gate_decisions_total{result="anonymous"}`,
		`caddy_wechat_rate_limited_total{scope="client"}`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(text, Secret) || strings.Contains(text, tok) {
		t.Fatal("a secret reached /metrics")
	}
}
