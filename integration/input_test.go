package integration

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	. "github.com/caddy-wechat/caddy-wechat/internal/testenv"
)

// TestLoginRefusesMalformedWeChatAnswers: an openid or unionid that is
// not WeChat's shape (CR/LF, 4,000 characters) or a session_key that is
// not 16 bytes of base64 is a 502, and no token is minted with it
// (hardening round 2, defect 8).
func TestLoginRefusesMalformedWeChatAnswers(t *testing.T) {
	answers := map[string]map[string]any{
		"crlf":     {"openid": "o-crlf\r\nX-Openid: forged", "session_key": SampleSessionKey},
		"long":     {"openid": strings.Repeat("o", 4000), "session_key": SampleSessionKey},
		"unionid":  {"openid": "o-union", "unionid": "u\nforged", "session_key": SampleSessionKey},
		"shortkey": {"openid": "o-short", "session_key": "c2hvcnQ="},
		"textkey":  {"openid": "o-text", "session_key": "not base64 at all"},
	}
	up := NewUpstream(t)
	wx := NewFakeWeChat(t, func(w http.ResponseWriter, r *http.Request, code string, _ int) {
		if a, ok := answers[code]; ok {
			WeChatJSON(w, a)
			return
		}
		OKAnswer(w, code)
	})
	StartCaddy(t, StdConfig(wx.URL, up.URL))
	c := NewClient()
	for code := range answers {
		st, _, body := Do(t, c, "POST", At(MainPort, "/login"), nil, fmt.Sprintf(`{"code":%q,"appid":%q}`, code, AppID))
		if st != 502 || body["error"] != "wechat_error" || body["token"] != nil {
			t.Errorf("%s: %d %v", code, st, body)
		}
	}
}

// TestLoginAndPhoneRefuseMalformedCodes: a code that is empty, longer
// than 128 bytes or not printable ASCII is a 400, and WeChat is not
// called (hardening round 2, defect 8).
func TestLoginAndPhoneRefuseMalformedCodes(t *testing.T) {
	wx := NewFakeAPI(t)
	StartCaddy(t, UDConfig(wx.URL, NewBodyUpstream(t).URL, "", ""))
	c := NewClient()
	tok, _ := UDLogin(t, c, "coder.1", AppID)
	logins := wx.Count("/sns/jscode2session")

	bad := []string{strings.Repeat("c", 129), strings.Repeat("c", 3000), "bad\xffutf8", "nul\x00", "line\nfeed", "tab\there", "ünï"}
	for _, code := range bad {
		form := url.Values{"code": {code}, "appid": {AppID}}.Encode()
		st, _, body := Do(t, c, "POST", At(UDPort, "/login"), http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, form)
		if st != 400 || body["error"] != "invalid_request" {
			t.Errorf("login code %.20q: %d %v", code, st, body)
		}
		st, _, body = Do(t, c, "POST", At(UDPort, "/phone"), Bearer(tok), JSONBody(t, map[string]string{"code": code}))
		if st != 400 || body["error"] != "invalid_request" {
			t.Errorf("phone code %.20q: %d %v", code, st, body)
		}
	}
	if st, _, body := Do(t, c, "POST", At(UDPort, "/login"), nil, `{"code":"","appid":"`+AppID+`"}`); st != 400 {
		t.Errorf("empty code: %d %v", st, body)
	}
	if got := wx.Count("/sns/jscode2session"); got != logins {
		t.Errorf("jscode2session called %d times for malformed codes", got-logins)
	}
	if got := wx.Count("/wxa/business/getuserphonenumber"); got != 0 {
		t.Errorf("getuserphonenumber called %d times for malformed codes", got)
	}
	// 128 printable bytes is still a code.
	if _, body := UDLogin(t, c, "k."+strings.Repeat("k", 126), AppID); body["openid"] == nil {
		t.Error("a 128-byte code was refused")
	}
}

// TestBodiesRefuseDuplicateFields: a JSON or form body that gives a field
// twice is a 400 on every endpoint that reads one, since which value it
// "means" would depend on the parser (hardening round 2, defect 10).
func TestBodiesRefuseDuplicateFields(t *testing.T) {
	wx := NewFakeAPI(t)
	StartCaddy(t, UDConfig(wx.URL, NewBodyUpstream(t).URL, "", ""))
	c := NewClient()
	tok, _ := UDLogin(t, c, "dup.1", AppID)
	calls := wx.Count("/sns/jscode2session")
	form := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	for _, tc := range []struct {
		path, body string
		hdr        http.Header
	}{
		{"/login", `{"code":"dup.2","code":"dup.3","appid":"` + AppID + `"}`, nil},
		{"/login", `{"code":"dup.2","Code":"dup.3","appid":"` + AppID + `"}`, nil},
		{"/login", `{"code":"dup.2","appid":"` + AppID + `","appid":"` + AppID2 + `"}`, nil},
		{"/login", "code=dup.2&code=dup.3&appid=" + AppID, form},
		{"/login", "code=dup.2&appid=" + AppID + "&appid=" + AppID, form},
		{"/decrypt", `{"encryptedData":"` + SampleData + `","iv":"` + SampleIV + `","iv":"AAAAAAAAAAAAAAAAAAAAAA=="}`, Bearer(tok)},
		{"/decrypt", `{"rawData":"{}","signature":"` + strings.Repeat("a", 40) + `","userInfo":{"a":1,"a":2}}`, Bearer(tok)},
		{"/phone", `{"code":"p1","code":"p2"}`, Bearer(tok)},
	} {
		st, _, body := Do(t, c, "POST", At(UDPort, tc.path), tc.hdr, tc.body)
		if st != 400 || body["error"] != "invalid_request" || !strings.Contains(body["message"].(string), "more than once") {
			t.Errorf("%s %s: %d %v", tc.path, tc.body, st, body)
		}
	}
	if wx.Count("/sns/jscode2session") != calls || wx.Count("/wxa/business/getuserphonenumber") != 0 {
		t.Error("a body with a duplicate field reached WeChat")
	}
}
