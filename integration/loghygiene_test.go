package integration

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/caddy-wechat/caddy-wechat/internal/testenv"
)

// TestLogsHoldNoSecrets runs every user data flow, failures and the
// stale-token retry included, with Caddy logging at DEBUG to a file and
// access logs on, then searches the file for every secret of the run.
func TestLogsHoldNoSecrets(t *testing.T) {
	wx := NewFakeAPI(t)
	wx.Set(func(f *FakeAPI) { f.RejectFirst = 40001 }) // exercise the retry's logging
	up := NewBodyUpstream(t)
	logFile := filepath.Join(t.TempDir(), "caddy.log")
	global := fmt.Sprintf("log {\n\t\toutput file %s\n\t\tlevel DEBUG\n\t}", logFile)
	StartCaddy(t, UDConfigWith(wx.URL, up.URL, global, "", "log"))
	c := NewClient()

	// Codes whose full text must never be logged (the openid is built
	// from the part before the dot, which may be).
	const loginCode, loginCode2 = "logcode.Q7v9xK2mWp", "logcode.R8w0yL3nXq"
	const phoneCode = "phonecode-Zp81Lm3qTt"
	bearerTok, _ := UDLogin(t, c, loginCode, AppID)
	bearerTok2, _ := UDLogin(t, c, loginCode2, AppID)

	// decrypt: ok, stale key, malformed; rawData ok and mismatch; forward.
	sk1, sk2 := UDSessionKey(loginCode), UDSessionKey(loginCode2)
	enc, iv := EncryptFor(t, sk2, AppID, map[string]any{"nickName": "Logged Nobody"})
	encBody := JSONBody(t, map[string]string{"encryptedData": enc, "iv": iv})
	expect := func(method, u string, h http.Header, body string, status int) {
		t.Helper()
		if st, _, got := Do(t, c, method, u, h, body); st != status {
			t.Fatalf("%s %s: %d %v, want %d", method, u, st, got, status)
		}
	}
	expect("POST", At(UDPort, "/decrypt"), Bearer(bearerTok2), encBody, 200)
	expect("POST", At(UDPort, "/decrypt"), Bearer(bearerTok), encBody, 422)
	expect("POST", At(UDPort, "/decrypt/forward"), Bearer(bearerTok2), encBody, 200)
	expect("POST", At(UDPort, "/decrypt"), Bearer(bearerTok2), JSONBody(t, map[string]string{"encryptedData": enc, "iv": "AAAA"}), 400)
	raw := `{"nickName":"Logged Nobody"}`
	expect("POST", At(UDPort, "/decrypt"), Bearer(bearerTok), JSONBody(t, map[string]string{"rawData": raw, "signature": sha1Hex(raw + sk1)}), 200)
	expect("POST", At(UDPort, "/decrypt"), Bearer(bearerTok), JSONBody(t, map[string]string{"rawData": raw, "signature": sha1Hex(raw + sk2)}), 422)

	// phone: the first token is refused (40001) and replaced; then a bad
	// code, another app's watermark, and forward.
	expect("POST", At(UDPort, "/phone"), Bearer(bearerTok), `{"code":"`+phoneCode+`"}`, 200)
	expect("POST", At(UDPort, "/phone"), Bearer(bearerTok), `{"code":"err40029.`+phoneCode+`"}`, 400)
	expect("POST", At(UDPort, "/phone"), Bearer(bearerTok), `{"code":"otherapp-`+phoneCode+`"}`, 502)
	expect("POST", At(UDPort, "/phone/forward"), Bearer(bearerTok), `{"code":"fwd-`+phoneCode+`"}`, 200)

	// wechat_api: a call, a dropped connection, a client-sent token.
	h := http.Header{"X-Wechat-Appid": {AppID}, "Authorization": {"Bearer " + bearerTok}}
	expect("POST", apiAt(UDAPIPort, "/wxa/echo?access_token=client-sent"), h, `{"a":1}`, 200)
	expect("GET", apiAt(UDAPIPort, "/wxa/drop"), h, "", 502)

	// The gate refusing a tampered token logs its reason.
	expect("GET", At(UDPort, "/decrypt"), Bearer(bearerTok+"x"), "", 401)

	if n := wx.Count("/cgi-bin/stable_token"); n != 2 {
		t.Fatalf("stable_token called %d times; the retry did not happen", n)
	}
	time.Sleep(100 * time.Millisecond) // let the access log entries land
	logs, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	text := string(logs)
	// The capture works: our debug entries and the access log are there.
	for _, want := range []string{`"level":"debug"`, "wechat access_token fetched", "wechat access_token refused", "wechat open data opened", "wechat open data refused", "wechat phone number looked up", "wechat_api call", `"logger":"http.log.access`} {
		if !strings.Contains(text, want) {
			t.Fatalf("log capture lacks %q; the test would prove nothing:\n%.3000s", want, text)
		}
	}

	secrets := map[string]string{
		"app secret":      Secret,
		"app secret 2":    Secret2,
		"sample secret":   SampleSecret,
		"signing key":     SigningKey,
		"login code":      loginCode,
		"login code 2":    loginCode2,
		"phone code":      phoneCode,
		"bearer token":    bearerTok,
		"bearer token 2":  bearerTok2,
		"bearer sig":      bearerTok[strings.LastIndex(bearerTok, ".")+1:],
		"session_key":     sk1,
		"session_key 2":   sk2,
		"session_key raw": strings.TrimRight(sk1, "="),
	}
	for i, tok := range wx.IssuedTokens() {
		secrets[fmt.Sprintf("access_token %d", i+1)] = tok
		// The distinctive part, should a log quote it partially.
		secrets[fmt.Sprintf("access_token %d tail", i+1)] = tok[3:]
	}
	for name, s := range secrets {
		if strings.Contains(text, s) {
			i := strings.Index(text, s)
			t.Errorf("%s found in the logs: ...%s...", name, text[max(0, i-200):min(len(text), i+len(s)+50)])
		}
	}
	// Personal data stays out as well.
	for _, pii := range []string{"13800138000", "Logged Nobody"} {
		if strings.Contains(text, pii) {
			t.Errorf("personal data %q in the logs", pii)
		}
	}
}
