package caddymodule

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

func TestLoginRateLimits(t *testing.T) {
	up := newUpstream(t)
	wx := newFakeWeChat(t, func(w http.ResponseWriter, r *http.Request, code string, _ int) { okAnswer(w, code) })
	cfg := strings.Replace(stdConfig(wx.URL, up.URL), "rate_limit client 100000 1m", "rate_limit client 3 1m\n\t\trate_limit app off", 1)
	startCaddy(t, cfg)
	c := newClient()
	for i := 0; i < 3; i++ {
		login(t, c, fmt.Sprintf("rl%d", i))
	}
	st, h, body := do(t, c, "POST", at(mainPort, "/login"), nil, `{"code":"rl9","appid":"`+testAppID+`"}`)
	secs, _ := strconv.Atoi(h.Get("Retry-After"))
	if st != 429 || body["error"] != "rate_limited" || secs < 1 || secs > 60 {
		t.Fatalf("4th login from one client: %d %v Retry-After %q", st, body, h.Get("Retry-After"))
	}
	if wx.count("rl9") != 0 {
		t.Fatal("a rate-limited login reached WeChat")
	}

	// Per app: the client limit is off, the app allows two.
	cfg = strings.Replace(stdConfig(wx.URL, up.URL), "rate_limit client 100000 1m", "rate_limit client off\n\t\trate_limit app 2 1m", 1)
	startCaddy(t, cfg)
	login(t, c, "app1")
	login(t, c, "app2")
	if st, h, _ := do(t, c, "POST", at(mainPort, "/login"), nil, `{"code":"app3","appid":"`+testAppID+`"}`); st != 429 || h.Get("Retry-After") == "" {
		t.Fatalf("3rd login for the app: %d", st)
	}
	// The other app has its own budget.
	if st, _, body := do(t, c, "POST", at(mainPort, "/login"), nil, `{"code":"other1","appid":"`+testAppID2+`"}`); st != 200 {
		t.Fatalf("other app: %d %v", st, body)
	}
}

// TestMetricsExposed checks the collectors on Caddy's /metrics.
func TestMetricsExposed(t *testing.T) {
	up := newUpstream(t)
	wx := newFakeWeChat(t, func(w http.ResponseWriter, r *http.Request, code string, _ int) {
		if code == "bad" {
			wechatJSON(w, map[string]any{"errcode": 40029, "errmsg": "invalid code"})
			return
		}
		okAnswer(w, code)
	})
	cfg := strings.Replace(stdConfig(wx.URL, up.URL), "rate_limit client 100000 1m", "rate_limit client 1 1m", 1)
	startCaddy(t, cfg)
	c := newClient()
	tok, _ := login(t, c, "metrics1")
	do(t, c, "POST", at(mainPort, "/login"), nil, `{"code":"bad","appid":"`+testAppID+`"}`) // rate limited
	do(t, c, "GET", at(mainPort, "/x"), bearer(tok), "")
	do(t, c, "GET", at(mainPort, "/x"), nil, "")
	do(t, c, "GET", at(mainPort, "/x"), bearer("x.y.z"), "")
	do(t, c, "GET", at(optPort, "/x"), nil, "")
	do(t, c, "GET", at(mainPort, "/login"), nil, "") // 405

	resp, err := c.Get("http://localhost:2999/metrics")
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
	if strings.Contains(text, testSecret) || strings.Contains(text, tok) {
		t.Fatal("a secret reached /metrics")
	}
}
