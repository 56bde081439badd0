package integration

import (
	"fmt"
	"net/http"
	"testing"

	. "github.com/caddy-wechat/caddy-wechat/internal/testenv"
)

// TestRepeatedLoginCodeGetsTheSameAnswer: a login code sent again after
// the first answer (a double tap, a retry after a lost response) gets
// that answer, from the same client only, and WeChat sees one exchange;
// after the window it gets WeChat's own (hardening round 2, defect 7).
func TestRepeatedLoginCodeGetsTheSameAnswer(t *testing.T) {
	ShortRepeatWindow(t)
	up := NewUpstream(t)
	wx := NewFakeWeChat(t, func(w http.ResponseWriter, r *http.Request, code string, n int) {
		if n > 1 {
			WeChatJSON(w, map[string]any{"errcode": 40163, "errmsg": "code been used, rid: 1"})
			return
		}
		OKAnswer(w, code)
	})
	port := FreePort(t)
	global := "servers {\n\t\ttrusted_proxies static 127.0.0.1/32\n\t\tclient_ip_headers X-Forwarded-For\n\t}"
	StartCaddy(t, SitesConfig(wx.URL, global, fmt.Sprintf(":%d {\n\twechat_login /login\n\twechat_auth\n\treverse_proxy %s\n}\n", port, up.URL)))
	c := NewClient()
	post := func(code, from string) (int, map[string]any) {
		h := http.Header{"Content-Type": {"application/json"}}
		if from != "" {
			h.Set("X-Forwarded-For", from)
		}
		st, _, body := Do(t, c, "POST", At(port, "/login"), h, fmt.Sprintf(`{"code":%q,"appid":%q}`, code, AppID))
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
	if n := wx.Count("tap.1"); n != 1 {
		t.Fatalf("WeChat saw the code %d times", n)
	}
	// The repeated token works.
	if st, _, _ := Do(t, c, "GET", At(port, "/x"), Bearer(second["token"].(string)), ""); st != 200 {
		t.Fatalf("repeated token: %d", st)
	}
	// From another client address it is today's answer: WeChat's 40163.
	if st, body := post("tap.1", "203.0.113.9"); st != 401 || body["error"] != "invalid_code" {
		t.Fatalf("from elsewhere: %d %v", st, body)
	}
	// After the window, likewise.
	WaitRepeatWindow()
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
	wx := NewFakeAPI(t)
	StartCaddy(t, UDConfig(wx.URL, NewBodyUpstream(t).URL, "", ""))
	c := NewClient()
	alice, _ := UDLogin(t, c, "alice.1", AppID)
	bob, _ := UDLogin(t, c, "bob.1", AppID)

	st1, _, first := Do(t, c, "POST", At(UDPort, "/phone"), Bearer(alice), `{"code":"ph-tap.1"}`)
	st2, _, second := Do(t, c, "POST", At(UDPort, "/phone"), Bearer(alice), `{"code":"ph-tap.1"}`)
	if st1 != 200 || st2 != 200 || first["phoneNumber"] != second["phoneNumber"] {
		t.Fatalf("repeat: %d %v, then %d %v", st1, first, st2, second)
	}
	if n := wx.Count("/wxa/business/getuserphonenumber"); n != 1 {
		t.Fatalf("getuserphonenumber called %d times", n)
	}
	if st, _, _ := Do(t, c, "POST", At(UDPort, "/phone"), Bearer(bob), `{"code":"ph-tap.1"}`); st != 200 || wx.Count("/wxa/business/getuserphonenumber") != 2 {
		t.Fatalf("another user's call was answered from alice's: %d, %d calls", st, wx.Count("/wxa/business/getuserphonenumber"))
	}
	// Forward mode answers a repeat the same way.
	Do(t, c, "POST", At(UDPort, "/phone/forward"), Bearer(alice), `{"code":"ph-fwd.1"}`)
	if st, _, body := Do(t, c, "POST", At(UDPort, "/phone/forward"), Bearer(alice), `{"code":"ph-fwd.1"}`); st != 200 || body["upstream"] != "ok" || wx.Count("/wxa/business/getuserphonenumber") != 3 {
		t.Fatalf("forward repeat: %d %v, %d calls", st, body, wx.Count("/wxa/business/getuserphonenumber"))
	}
}
