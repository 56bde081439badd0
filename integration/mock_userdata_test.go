package integration

import (
	"context"
	"net/http"
	"strings"
	"testing"

	. "github.com/caddy-wechat/caddy-wechat/internal/testenv"

	"github.com/caddy-wechat/caddy-wechat/wechat"
)

// TestMockUserDataEndToEnd runs the demo's story against the simulator:
// log in, have the simulator play the WeChat client that encrypts and
// signs, then decrypt, verify, look up a phone number and call an API
// through wechat_api, including the 40001 retry.
func TestMockUserDataEndToEnd(t *testing.T) {
	ShortRepeatWindow(t)
	up := NewBodyUpstream(t)
	StartCaddy(t, UDConfig(At(UDMockPort, ""), up.URL, "", ""))
	c := NewClient()
	tok, lg := UDLogin(t, c, "ud-alice.1", AppID)
	openid := lg["openid"].(string)

	// encryptedData for the logged-in user, as the WeChat client makes it.
	st, _, enc := Do(t, c, "POST", At(UDMockPort, "/mock/encrypt"), nil,
		JSONBody(t, map[string]any{"appid": AppID, "openid": openid, "data": map[string]any{"nickName": "Alice", "stepInfoList": []any{map[string]any{"timestamp": 1445866601, "step": 100}}}}))
	if st != 200 || enc["encryptedData"] == nil || enc["iv"] == nil {
		t.Fatalf("mock encrypt: %d %v", st, enc)
	}
	st, _, got := Do(t, c, "POST", At(UDPort, "/decrypt"), Bearer(tok), JSONBody(t, map[string]any{"encryptedData": enc["encryptedData"], "iv": enc["iv"]}))
	if wm, _ := got["watermark"].(map[string]any); st != 200 || got["nickName"] != "Alice" || wm["appid"] != AppID {
		t.Fatalf("decrypt through Caddy: %d %v", st, got)
	}

	// rawData signed by the simulator, found by user name this time.
	raw := `{"nickName":"Alice","gender":2}`
	st, _, sig := Do(t, c, "POST", At(UDMockPort, "/mock/sign"), nil, JSONBody(t, map[string]any{"appid": AppID, "user": "ud-alice", "rawData": raw}))
	if st != 200 {
		t.Fatalf("mock sign: %d %v", st, sig)
	}
	if st, _, got := Do(t, c, "POST", At(UDPort, "/decrypt"), Bearer(tok), JSONBody(t, map[string]any{"rawData": raw, "signature": sig["signature"]})); st != 200 || got["gender"] != float64(2) {
		t.Fatalf("rawData through Caddy: %d %v", st, got)
	}

	// Another app's watermark.
	_, _, other := Do(t, c, "POST", At(UDMockPort, "/mock/encrypt"), nil, JSONBody(t, map[string]any{"appid": AppID, "openid": openid, "watermark_appid": AppID2, "data": map[string]any{}}))
	if st, _, got := Do(t, c, "POST", At(UDPort, "/decrypt"), Bearer(tok), JSONBody(t, map[string]any{"encryptedData": other["encryptedData"], "iv": other["iv"]})); st != 422 || got["error"] != "watermark_mismatch" {
		t.Fatalf("other app's watermark: %d %v", st, got)
	}

	// wx.login again: the simulator rotates the key, and the old token's
	// key no longer opens new data.
	tok2, _ := UDLogin(t, c, "ud-alice.2", AppID)
	_, _, enc = Do(t, c, "POST", At(UDMockPort, "/mock/encrypt"), nil, JSONBody(t, map[string]any{"appid": AppID, "openid": openid, "data": map[string]any{"nickName": "Alice"}}))
	body := JSONBody(t, map[string]any{"encryptedData": enc["encryptedData"], "iv": enc["iv"]})
	if st, _, got := Do(t, c, "POST", At(UDPort, "/decrypt"), Bearer(tok), body); st != 422 || got["error"] != "decrypt_failed" || !strings.Contains(got["message"].(string), "log in again") {
		t.Fatalf("stale key: %d %v", st, got)
	}
	if st, _, _ := Do(t, c, "POST", At(UDPort, "/decrypt"), Bearer(tok2), body); st != 200 {
		t.Fatalf("fresh key: %d", st)
	}

	// Phone numbers: ok, a used code, another app's watermark.
	st, _, ph := Do(t, c, "POST", At(UDPort, "/phone"), Bearer(tok2), `{"code":"phone.1"}`)
	if pn, _ := ph["phoneNumber"].(string); st != 200 || len(pn) != 11 || ph["purePhoneNumber"] != pn || ph["countryCode"] != "86" {
		t.Fatalf("phone: %d %v", st, ph)
	}
	// A repeat within the window is the same answer; after it, WeChat's
	// own answer for a used code.
	if st, _, got := Do(t, c, "POST", At(UDPort, "/phone"), Bearer(tok2), `{"code":"phone.1"}`); st != 200 || got["phoneNumber"] != ph["phoneNumber"] {
		t.Fatalf("repeated phone code: %d %v", st, got)
	}
	WaitRepeatWindow()
	if st, _, got := Do(t, c, "POST", At(UDPort, "/phone"), Bearer(tok2), `{"code":"phone.1"}`); st != 400 || got["error"] != "invalid_code" {
		t.Fatalf("used phone code: %d %v", st, got)
	}
	if st, _, got := Do(t, c, "POST", At(UDPort, "/phone"), Bearer(tok2), `{"code":"otherapp.1"}`); st != 502 || got["error"] != "wechat_error" {
		t.Fatalf("other app's phone watermark: %d %v", st, got)
	}

	// wechat_api against the simulator.
	h := http.Header{"X-Wechat-Appid": {AppID}}
	st, _, got = Do(t, c, "GET", apiAt(UDAPIPort, "/cgi-bin/get_api_domain_ip"), h, "")
	if ips, _ := got["ip_list"].([]any); st != 200 || len(ips) == 0 {
		t.Fatalf("get_api_domain_ip: %d %v", st, got)
	}
	st, _, got = Do(t, c, "POST", apiAt(UDAPIPort, "/wxa/mock/echo?k=v"), h, `{"hello":"wechat"}`)
	if st != 200 || got["errcode"] != float64(0) || got["appid"] != AppID || got["query"] != "k=v" || got["body"] != `{"hello":"wechat"}` {
		t.Fatalf("echo: %d %v", st, got)
	}

	// The simulator makes the held token stale: both handlers retry.
	if st, _, got := Do(t, c, "POST", At(UDMockPort, "/mock/expire_token"), nil, `{"appid":"`+AppID+`"}`); st != 200 || got["errcode"] != float64(0) {
		t.Fatalf("expire_token: %d %v", st, got)
	}
	if st, _, got := Do(t, c, "POST", apiAt(UDAPIPort, "/wxa/mock/echo"), h, `{}`); st != 200 || got["errcode"] != float64(0) {
		t.Fatalf("wechat_api after expire: %d %v", st, got)
	}
	Do(t, c, "POST", At(UDMockPort, "/mock/expire_token"), nil, `{"appid":"`+AppID+`"}`)
	if st, _, got := Do(t, c, "POST", At(UDPort, "/phone"), Bearer(tok2), `{"code":"phone.2"}`); st != 200 {
		t.Fatalf("phone after expire: %d %v", st, got)
	}

	// The development routes refuse users who never logged in.
	if st, _, got := Do(t, c, "POST", At(UDMockPort, "/mock/encrypt"), nil, `{"appid":"`+AppID+`","user":"nobody","data":{}}`); st != 404 || got["errcode"] != float64(87009) {
		t.Fatalf("encrypt for a stranger: %d %v", st, got)
	}
}

// TestMockServerAPIs checks the simulator against the wechat client, so
// that it answers as the client expects WeChat to.
func TestMockServerAPIs(t *testing.T) {
	StartCaddy(t, UDConfig(At(UDMockPort, ""), NewBodyUpstream(t).URL, "", ""))
	ctx := context.Background()
	cl := &wechat.Client{BaseURL: At(UDMockPort, "")}

	// Normal mode: the same token for every caller; force_refresh: a new one.
	t1, exp, err := cl.StableToken(ctx, AppID, Secret, false)
	if err != nil || exp <= 0 {
		t.Fatalf("stable_token: %v %v", err, exp)
	}
	if t2, _, _ := cl.StableToken(ctx, AppID, Secret, false); t2 != t1 {
		t.Fatal("normal mode gave another token")
	}
	if t3, _, _ := cl.StableToken(ctx, AppID2, Secret2, false); t3 == t1 {
		t.Fatal("two apps share a token")
	}
	if _, _, err := cl.StableToken(ctx, AppID, "wrong", false); wechat.KindOf(err) != wechat.KindConfig {
		t.Fatalf("wrong secret: %v", err)
	}
	t4, _, _ := cl.StableToken(ctx, AppID, Secret, true)
	if t4 == t1 {
		t.Fatal("force_refresh kept the token")
	}

	// checksession: the current key passes, a replaced one gets 87009.
	s1, err := cl.Code2Session(ctx, AppID, Secret, "ud-zoe.1")
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.CheckSession(ctx, t4, s1.OpenID, s1.SessionKey); err != nil {
		t.Fatalf("checksession with the current key: %v", err)
	}
	s2, _ := cl.Code2Session(ctx, AppID, Secret, "ud-zoe.2")
	if code, _ := wechat.ErrCode(cl.CheckSession(ctx, t4, s1.OpenID, s1.SessionKey)); code != wechat.CodeInvalidSession {
		t.Fatalf("checksession with a replaced key: errcode %d", code)
	}
	if err := cl.CheckSession(ctx, t4, s2.OpenID, s2.SessionKey); err != nil {
		t.Fatalf("checksession with the new key: %v", err)
	}

	// The forced refresh invalidated the first token; an unknown one fails too.
	for _, tok := range []string{t1, "made-up"} {
		if _, err := cl.PhoneNumber(ctx, tok, "p.1", s2.OpenID); wechat.KindOf(err) != wechat.KindToken {
			t.Fatalf("stale token: %v", err)
		}
	}
	if _, err := cl.PhoneNumber(ctx, "", "p.1", s2.OpenID); err == nil {
		t.Fatal("no token accepted")
	}
	info, err := cl.PhoneNumber(ctx, t4, "p.1", s2.OpenID)
	if err != nil || info.Watermark.AppID != AppID || info.PhoneNumber == "" {
		t.Fatalf("phone: %v %+v", err, info)
	}
	if _, err := cl.PhoneNumber(ctx, t4, "p.1", s2.OpenID); err == nil || wechat.KindOf(err) != wechat.KindInvalidCode {
		t.Fatalf("used phone code: %v", err)
	}
	if _, err := cl.PhoneNumber(ctx, t4, "err45011", s2.OpenID); wechat.KindOf(err) != wechat.KindQuota {
		t.Fatalf("steered phone code: %v", err)
	}
	// The same user gets the same number.
	again, _ := cl.PhoneNumber(ctx, t4, "p.2", s2.OpenID)
	if again == nil || again.PhoneNumber != info.PhoneNumber {
		t.Fatalf("numbers differ for one user: %+v %+v", info, again)
	}

	// /mock/encrypt uses the current key, so wechat.DecryptData opens it.
	var ans struct{ EncryptedData, IV string }
	if err := cl.Call(ctx, "encrypt", "/mock/encrypt", nil, map[string]any{"appid": AppID, "openid": s2.OpenID, "data": map[string]any{"n": 12345678901234567}}, &ans); err != nil {
		t.Fatal(err)
	}
	plain, err := wechat.DecryptData(s2.SessionKey, ans.EncryptedData, ans.IV)
	if err != nil || wechat.CheckWatermark(plain, AppID) != nil || !strings.Contains(string(plain), "12345678901234567") {
		t.Fatalf("mock encryptedData: %v %s", err, plain)
	}
	var sig struct{ Signature string }
	if err := cl.Call(ctx, "sign", "/mock/sign", nil, map[string]any{"appid": AppID, "openid": s2.OpenID, "rawData": "{}"}, &sig); err != nil || !wechat.VerifyRawData("{}", sig.Signature, s2.SessionKey) {
		t.Fatalf("mock signature: %v %q", err, sig.Signature)
	}
}
