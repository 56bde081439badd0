package caddymodule

import (
	"fmt"
	"net/http"
	"testing"
)

// TestRepeatedLoginCodeGetsTheSameAnswer: a login code sent again after
// the first answer (a double tap, a retry after a lost response) gets
// that answer, from the same client only, and WeChat sees one exchange;
// after the window it gets WeChat's own (hardening round 2, defect 7).
func TestRepeatedLoginCodeGetsTheSameAnswer(t *testing.T) {
	up := newUpstream(t)
	wx := newFakeWeChat(t, func(w http.ResponseWriter, r *http.Request, code string, n int) {
		if n > 1 {
			wechatJSON(w, map[string]any{"errcode": 40163, "errmsg": "code been used, rid: 1"})
			return
		}
		okAnswer(w, code)
	})
	port := freePort(t)
	global := "servers {\n\t\ttrusted_proxies static 127.0.0.1/32\n\t\tclient_ip_headers X-Forwarded-For\n\t}"
	startCaddy(t, sitesConfig(wx.URL, global, fmt.Sprintf(":%d {\n\twechat_login /login\n\twechat_auth\n\treverse_proxy %s\n}\n", port, up.URL)))
	c := newClient()
	post := func(code, from string) (int, map[string]any) {
		h := http.Header{"Content-Type": {"application/json"}}
		if from != "" {
			h.Set("X-Forwarded-For", from)
		}
		st, _, body := do(t, c, "POST", at(port, "/login"), h, fmt.Sprintf(`{"code":%q,"appid":%q}`, code, testAppID))
		return st, body
	}

	st1, first := post("tap.1", "")
	st2, second := post("tap.1", "")
	if st1 != 200 || st2 != 200 || first["token"] != second["token"] || first["openid"] != second["openid"] {
		t.Fatalf("repeat: %d %v, then %d %v", st1, first, st2, second)
	}
	if exp := second["expires_in"].(float64); exp < 3590 || exp > 3600 {
		t.Fatalf("the repeat's expires_in is %v", exp)
	}
	if n := wx.count("tap.1"); n != 1 {
		t.Fatalf("WeChat saw the code %d times", n)
	}
	// The repeated token works.
	if st, _, _ := do(t, c, "GET", at(port, "/x"), bearer(second["token"].(string)), ""); st != 200 {
		t.Fatalf("repeated token: %d", st)
	}
	// From another client address it is today's answer: WeChat's 40163.
	if st, body := post("tap.1", "203.0.113.9"); st != 401 || body["error"] != "invalid_code" {
		t.Fatalf("from elsewhere: %d %v", st, body)
	}
	// After the window, likewise.
	forgetRepeats(t)
	if st, body := post("tap.1", ""); st != 401 || body["error"] != "invalid_code" {
		t.Fatalf("after the window: %d %v", st, body)
	}
	// A failure is not remembered: a transient one must stay retryable.
	if st, _ := post("fresh.1", "198.51.100.1"); st != 200 {
		t.Fatalf("fresh code: %d", st)
	}
}

// TestRepeatedPhoneCodeGetsTheSameAnswer: a phone code sent again by the
// same user gets the first answer without a second (billed) call; another
// user with the same code gets WeChat's own answer.
func TestRepeatedPhoneCodeGetsTheSameAnswer(t *testing.T) {
	wx := newFakeAPI(t)
	startCaddy(t, udConfig(wx.URL, newBodyUpstream(t).URL, "", ""))
	c := newClient()
	alice, _ := udLogin(t, c, "alice.1", testAppID)
	bob, _ := udLogin(t, c, "bob.1", testAppID)

	st1, _, first := do(t, c, "POST", at(udPort, "/phone"), bearer(alice), `{"code":"ph-tap.1"}`)
	st2, _, second := do(t, c, "POST", at(udPort, "/phone"), bearer(alice), `{"code":"ph-tap.1"}`)
	if st1 != 200 || st2 != 200 || first["phoneNumber"] != second["phoneNumber"] {
		t.Fatalf("repeat: %d %v, then %d %v", st1, first, st2, second)
	}
	if n := wx.count("/wxa/business/getuserphonenumber"); n != 1 {
		t.Fatalf("getuserphonenumber called %d times", n)
	}
	if st, _, _ := do(t, c, "POST", at(udPort, "/phone"), bearer(bob), `{"code":"ph-tap.1"}`); st != 200 || wx.count("/wxa/business/getuserphonenumber") != 2 {
		t.Fatalf("another user's call was answered from alice's: %d, %d calls", st, wx.count("/wxa/business/getuserphonenumber"))
	}
	// Forward mode answers a repeat the same way.
	do(t, c, "POST", at(udPort, "/phone/forward"), bearer(alice), `{"code":"ph-fwd.1"}`)
	if st, _, body := do(t, c, "POST", at(udPort, "/phone/forward"), bearer(alice), `{"code":"ph-fwd.1"}`); st != 200 || body["upstream"] != "ok" || wx.count("/wxa/business/getuserphonenumber") != 3 {
		t.Fatalf("forward repeat: %d %v, %d calls", st, body, wx.count("/wxa/business/getuserphonenumber"))
	}
}
