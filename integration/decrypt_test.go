package integration

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	. "github.com/caddy-wechat/caddy-wechat/internal/testenv"

	"github.com/caddy-wechat/caddy-wechat/wechat"
)

func sha1Hex(s string) string {
	sum := sha1.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// assertNoSessionKey fails if a session_key shows up in what the client got.
func assertNoSessionKey(t *testing.T, v any, keys ...string) {
	t.Helper()
	raw, _ := json.Marshal(v)
	for _, k := range keys {
		if strings.Contains(string(raw), k) || strings.Contains(string(raw), strings.TrimRight(k, "=")) {
			t.Fatalf("session_key %q in a response: %s", k, raw)
		}
	}
}

func TestDecryptHappyPath(t *testing.T) {
	wx := NewFakeAPI(t)
	StartCaddy(t, UDConfig(wx.URL, NewBodyUpstream(t).URL, "", ""))
	c := NewClient()
	tok, _ := UDLogin(t, c, "alice.1", AppID)

	userInfo := map[string]any{"openId": "o-alice", "nickName": "Alice", "gender": 2, "avatarUrl": "https://example.com/a.png"}
	enc, iv := EncryptFor(t, UDSessionKey("alice.1"), AppID, userInfo)
	st, hdr, got := Do(t, c, "POST", At(UDPort, "/decrypt"), Bearer(tok), JSONBody(t, map[string]string{"encryptedData": enc, "iv": iv}))
	if st != 200 || got["nickName"] != "Alice" || got["openId"] != "o-alice" || got["gender"] != float64(2) {
		t.Fatalf("decrypt: %d %v", st, got)
	}
	if wm, _ := got["watermark"].(map[string]any); wm["appid"] != AppID {
		t.Fatalf("watermark not passed on: %v", got)
	}
	if !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") || hdr.Get("Cache-Control") != "no-store" {
		t.Fatalf("headers: %v", hdr)
	}
	assertNoSessionKey(t, got, UDSessionKey("alice.1"))

	// Extra fields the wx API returns (errMsg, cloudID) are ignored.
	st, _, got = Do(t, c, "POST", At(UDPort, "/decrypt"), Bearer(tok), JSONBody(t, map[string]any{"errMsg": "getPhoneNumber:ok", "cloudID": "x", "encryptedData": enc, "iv": iv}))
	if st != 200 || got["nickName"] != "Alice" {
		t.Fatalf("with extra fields: %d %v", st, got)
	}

	// WeRun-style data, with a nested list, and the legacy phone number.
	enc, iv = EncryptFor(t, UDSessionKey("alice.1"), AppID, map[string]any{"stepInfoList": []any{map[string]any{"timestamp": 1445866601, "step": 100}}})
	st, _, got = Do(t, c, "POST", At(UDPort, "/decrypt"), Bearer(tok), JSONBody(t, map[string]string{"encryptedData": enc, "iv": iv}))
	if list, _ := got["stepInfoList"].([]any); st != 200 || len(list) != 1 {
		t.Fatalf("werun: %d %v", st, got)
	}
}

func TestDecryptOfficialSample(t *testing.T) {
	wx := NewFakeAPI(t)
	StartCaddy(t, UDConfig(wx.URL, NewBodyUpstream(t).URL, "", ""))
	c := NewClient()
	tok, _ := UDLogin(t, c, "sample", SampleAppID)
	st, _, got := Do(t, c, "POST", At(UDPort, "/decrypt"), Bearer(tok), JSONBody(t, map[string]string{"encryptedData": SampleData, "iv": SampleIV}))
	if st != 200 || got["openId"] != "oGZUI0egBJY1zhBYw2KhdUfwVJJE" || got["unionId"] != "ocMvos6NjeKLIBqg5Mr9QjxrP1FA" || got["nickName"] != "Band" {
		t.Fatalf("official sample: %d %v", st, got)
	}

	// Under another user's key it does not open.
	tok2, _ := UDLogin(t, c, "other.1", AppID)
	st, _, got = Do(t, c, "POST", At(UDPort, "/decrypt"), Bearer(tok2), JSONBody(t, map[string]string{"encryptedData": SampleData, "iv": SampleIV}))
	if st != 422 || got["error"] != "decrypt_failed" {
		t.Fatalf("sample under another session: %d %v", st, got)
	}
	// With the right key but a session of another app, the watermark
	// (the sample's app) refuses it.
	tok3, _ := UDLogin(t, c, "sample", AppID)
	st, _, got = Do(t, c, "POST", At(UDPort, "/decrypt"), Bearer(tok3), JSONBody(t, map[string]string{"encryptedData": SampleData, "iv": SampleIV}))
	if st != 422 || got["error"] != "watermark_mismatch" {
		t.Fatalf("sample under another app: %d %v", st, got)
	}
}

func TestDecryptRawDataSignature(t *testing.T) {
	wx := NewFakeAPI(t)
	StartCaddy(t, UDConfig(wx.URL, NewBodyUpstream(t).URL, "", ""))
	c := NewClient()
	tok, _ := UDLogin(t, c, "bob.1", AppID)
	sk := UDSessionKey("bob.1")

	raw := `{"nickName":"Bob","gender":1,"language":"zh_CN","city":"","avatarUrl":"https://x/y"}`
	st, _, got := Do(t, c, "POST", At(UDPort, "/decrypt"), Bearer(tok), JSONBody(t, map[string]string{"rawData": raw, "signature": sha1Hex(raw + sk)}))
	if st != 200 || got["nickName"] != "Bob" || got["gender"] != float64(1) {
		t.Fatalf("rawData ok: %d %v", st, got)
	}
	assertNoSessionKey(t, got, sk)

	// Signed under another key, or rawData changed after signing: 422.
	for name, req := range map[string]map[string]string{
		"other key":       {"rawData": raw, "signature": sha1Hex(raw + UDSessionKey("bob.0"))},
		"tampered data":   {"rawData": strings.Replace(raw, "Bob", "Eve", 1), "signature": sha1Hex(raw + sk)},
		"key then data":   {"rawData": raw, "signature": sha1Hex(sk + raw)},
		"upper-case hash": {"rawData": raw, "signature": strings.ToUpper(sha1Hex(raw + UDSessionKey("bob.0")))},
	} {
		st, _, got := Do(t, c, "POST", At(UDPort, "/decrypt"), Bearer(tok), JSONBody(t, req))
		msg, _ := got["message"].(string)
		if st != 422 || got["error"] != "signature_mismatch" || !strings.Contains(msg, "wx.login") || !strings.Contains(msg, "log in again") {
			t.Errorf("%s: %d %v", name, st, got)
		}
	}

	// All four fields of wx.getUserInfo: both must check out.
	enc, iv := EncryptFor(t, sk, AppID, map[string]any{"nickName": "Bob", "openId": "o-bob"})
	st, _, got = Do(t, c, "POST", At(UDPort, "/decrypt"), Bearer(tok), JSONBody(t, map[string]string{"rawData": raw, "signature": sha1Hex(raw + sk), "encryptedData": enc, "iv": iv}))
	if st != 200 || got["openId"] != "o-bob" {
		t.Fatalf("all four fields: %d %v", st, got)
	}
	st, _, got = Do(t, c, "POST", At(UDPort, "/decrypt"), Bearer(tok), JSONBody(t, map[string]string{"rawData": raw, "signature": sha1Hex(raw + "x"), "encryptedData": enc, "iv": iv}))
	if st != 422 || got["error"] != "signature_mismatch" {
		t.Fatalf("all four fields, bad signature: %d %v", st, got)
	}
}

func TestDecryptRejectsMalformed(t *testing.T) {
	wx := NewFakeAPI(t)
	StartCaddy(t, UDConfig(wx.URL, NewBodyUpstream(t).URL, "", ""))
	c := NewClient()
	tok, _ := UDLogin(t, c, "carol.1", AppID)
	sk := UDSessionKey("carol.1")
	enc, iv := EncryptFor(t, sk, AppID, map[string]any{"nickName": "Carol", "city": "Guangzhou", "country": "China"})
	ct, _ := base64.StdEncoding.DecodeString(enc)
	if len(ct) < 48 {
		t.Fatalf("fixture too short: %d bytes", len(ct))
	}
	b64 := base64.StdEncoding.EncodeToString
	// The random IV makes the ciphertext random: draw until the base64
	// has the '+' and '/' that the mangling cases need.
	for !strings.Contains(enc, "+") || !strings.Contains(enc, "/") {
		enc, iv = EncryptFor(t, sk, AppID, map[string]any{"nickName": "Carol", "city": "Guangzhou", "country": "China"})
		ct, _ = base64.StdEncoding.DecodeString(enc)
	}
	urlSafe := strings.NewReplacer("+", "-", "/", "_").Replace(enc)

	cases := []struct {
		name   string
		body   string
		status int
		code   string
		hint   string
	}{
		{"8-byte IV", JSONBody(t, map[string]string{"encryptedData": enc, "iv": b64(make([]byte, 8))}), 400, "invalid_request", "iv"},
		{"17-byte data", JSONBody(t, map[string]string{"encryptedData": b64(ct[:17]), "iv": iv}), 400, "invalid_request", "block"},
		{"empty data", JSONBody(t, map[string]string{"encryptedData": "", "iv": iv}), 400, "invalid_request", "encryptedData"},
		{"empty iv", JSONBody(t, map[string]string{"encryptedData": enc, "iv": ""}), 400, "invalid_request", "iv"},
		{"+ turned into a space", JSONBody(t, map[string]string{"encryptedData": strings.ReplaceAll(enc, "+", " "), "iv": iv}), 400, "invalid_request", "'+'"},
		{"not base64", JSONBody(t, map[string]string{"encryptedData": "!!!not*base64!!!", "iv": iv}), 400, "invalid_request", "not standard base64"},
		{"URL-safe base64", JSONBody(t, map[string]string{"encryptedData": urlSafe, "iv": iv}), 400, "invalid_request", "URL-safe"},
		{"unpadded base64", JSONBody(t, map[string]string{"encryptedData": enc, "iv": strings.TrimRight(iv, "=")}), 400, "invalid_request", "base64"},
		{"truncated mid-block", JSONBody(t, map[string]string{"encryptedData": b64(ct[:len(ct)-5]), "iv": iv}), 400, "invalid_request", "block"},
		{"truncated by a block", JSONBody(t, map[string]string{"encryptedData": b64(ct[:len(ct)-16]), "iv": iv}), 422, "decrypt_failed", "log in again"},
		{"flipped last block", JSONBody(t, map[string]string{"encryptedData": b64(flipByte(ct, len(ct)-1)), "iv": iv}), 422, "decrypt_failed", "wx.login"},
		{"no iv", JSONBody(t, map[string]string{"encryptedData": enc}), 400, "invalid_request", "together"},
		{"no signature", JSONBody(t, map[string]string{"rawData": "{}"}), 400, "invalid_request", "together"},
		{"signature not hex", JSONBody(t, map[string]string{"rawData": "{}", "signature": strings.Repeat("z", 40)}), 400, "invalid_request", "hex"},
		{"rawData not JSON", JSONBody(t, map[string]string{"rawData": "nickName=x", "signature": sha1Hex("nickName=x" + sk)}), 400, "invalid_request", "rawData"},
		{"nothing to open", `{"code":"x"}`, 400, "invalid_request", "encryptedData"},
		{"not JSON", `encryptedData=x&iv=y`, 400, "invalid_request", "JSON"},
		{"number for a string", `{"encryptedData": 12, "iv": "x"}`, 400, "invalid_request", "string"},
		{"JSON array", `[1,2]`, 400, "invalid_request", "JSON"},
		{"empty body", ``, 400, "invalid_request", "JSON"},
		{"too large", `{"encryptedData":"` + strings.Repeat("A", 70<<10) + `","iv":"x"}`, 413, "request_too_large", "bytes"},
	}
	for _, tc := range cases {
		st, _, got := Do(t, c, "POST", At(UDPort, "/decrypt"), Bearer(tok), tc.body)
		msg, _ := got["message"].(string)
		if st != tc.status || got["error"] != tc.code || !strings.Contains(msg, tc.hint) {
			t.Errorf("%s: got %d %v, want %d %s mentioning %q", tc.name, st, got, tc.status, tc.code, tc.hint)
		}
		assertNoSessionKey(t, got, sk)
	}

	st, hdr, got := Do(t, c, "GET", At(UDPort, "/decrypt"), Bearer(tok), "")
	if st != 405 || hdr.Get("Allow") != "POST" || got["error"] != "method_not_allowed" {
		t.Errorf("GET: %d %v %v", st, hdr, got)
	}
}

func flipByte(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 0x5a
	return c
}

func TestDecryptStaleKeyAndWatermark(t *testing.T) {
	wx := NewFakeAPI(t)
	StartCaddy(t, UDConfig(wx.URL, NewBodyUpstream(t).URL, "", ""))
	c := NewClient()
	old, _ := UDLogin(t, c, "dave.1", AppID)
	fresh, _ := UDLogin(t, c, "dave.2", AppID) // wx.login ran again: new key

	// Data made under the newer key, sent with the older login's token.
	enc, iv := EncryptFor(t, UDSessionKey("dave.2"), AppID, map[string]any{"nickName": "Dave"})
	st, _, got := Do(t, c, "POST", At(UDPort, "/decrypt"), Bearer(old), JSONBody(t, map[string]string{"encryptedData": enc, "iv": iv}))
	msg, _ := got["message"].(string)
	if st != 422 || got["error"] != "decrypt_failed" || !strings.Contains(msg, "wx.login") || !strings.Contains(msg, "log in again") {
		t.Fatalf("stale key: %d %v", st, got)
	}
	if st, _, got := Do(t, c, "POST", At(UDPort, "/decrypt"), Bearer(fresh), JSONBody(t, map[string]string{"encryptedData": enc, "iv": iv})); st != 200 || got["nickName"] != "Dave" {
		t.Fatalf("fresh key: %d %v", st, got)
	}

	// Right key, watermark of another app.
	enc, iv = EncryptFor(t, UDSessionKey("dave.2"), AppID2, map[string]any{"nickName": "Dave"})
	st, _, got = Do(t, c, "POST", At(UDPort, "/decrypt"), Bearer(fresh), JSONBody(t, map[string]string{"encryptedData": enc, "iv": iv}))
	if st != 422 || got["error"] != "watermark_mismatch" {
		t.Fatalf("other app's watermark: %d %v", st, got)
	}
	// No watermark at all counts as another app's.
	plainEnc, plainIV := encryptNoWatermark(t, UDSessionKey("dave.2"))
	st, _, got = Do(t, c, "POST", At(UDPort, "/decrypt"), Bearer(fresh), JSONBody(t, map[string]string{"encryptedData": plainEnc, "iv": plainIV}))
	if st != 422 || got["error"] != "watermark_mismatch" {
		t.Fatalf("no watermark: %d %v", st, got)
	}
}

func encryptNoWatermark(t *testing.T, sk string) (string, string) {
	t.Helper()
	iv := make([]byte, 16)
	enc, err := wechat.EncryptData(sk, []byte(`{"nickName":"nowm"}`), iv)
	if err != nil {
		t.Fatal(err)
	}
	return enc, base64.StdEncoding.EncodeToString(iv)
}

func TestUserDataNeedsIdentity(t *testing.T) {
	wx := NewFakeAPI(t)
	StartCaddy(t, UDConfig(wx.URL, NewBodyUpstream(t).URL, "", ""))
	c := NewClient()
	tok, _ := UDLogin(t, c, "erin.1", AppID)
	enc, iv := EncryptFor(t, UDSessionKey("erin.1"), AppID, map[string]any{"nickName": "Erin"})
	body := JSONBody(t, map[string]string{"encryptedData": enc, "iv": iv})

	for _, path := range []string{"/nogate/decrypt", "/nogate/phone", "/anon/decrypt", "/anon/phone", "/decrypt", "/phone"} {
		// Without a token: the gate refuses, or, when there is no gate or
		// it is optional, the handler itself does.
		st, hdr, got := Do(t, c, "POST", At(UDPort, path), http.Header{"X-Openid": {"o-erin"}}, body)
		if st != 401 || got["error"] != "unauthorized" || !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s without a token: %d %v %v", path, st, got, hdr)
		}
	}
	// With no gate in front, a valid token is not enough either: nothing
	// verified it.
	if st, _, got := Do(t, c, "POST", At(UDPort, "/nogate/decrypt"), Bearer(tok), body); st != 401 || got["error"] != "unauthorized" {
		t.Errorf("no gate, token: %d %v", st, got)
	}
	// Under the optional gate, a token makes it work.
	if st, _, got := Do(t, c, "POST", At(UDPort, "/anon/decrypt"), Bearer(tok), body); st != 200 || got["nickName"] != "Erin" {
		t.Errorf("optional gate with token: %d %v", st, got)
	}
	if n := wx.Count("/wxa/business/getuserphonenumber") + wx.Count("/cgi-bin/stable_token"); n != 0 {
		t.Fatalf("anonymous requests reached WeChat %d times", n)
	}
}

func TestDecryptForward(t *testing.T) {
	wx := NewFakeAPI(t)
	up := NewBodyUpstream(t)
	StartCaddy(t, UDConfig(wx.URL, up.URL, "", ""))
	c := NewClient()
	tok, _ := UDLogin(t, c, "frank.1", AppID)
	enc, iv := EncryptFor(t, UDSessionKey("frank.1"), AppID, map[string]any{"nickName": "Frank", "openId": "o-frank"})

	h := Bearer(tok)
	h.Set("Content-Type", "text/plain")
	st, _, got := Do(t, c, "POST", At(UDPort, "/decrypt/forward"), h, JSONBody(t, map[string]string{"encryptedData": enc, "iv": iv}))
	if st != 200 || got["upstream"] != "ok" {
		t.Fatalf("forward: %d %v", st, got)
	}
	method, hdr, body, hits := up.Last()
	var fwd map[string]any
	if err := json.Unmarshal(body, &fwd); err != nil || fwd["nickName"] != "Frank" || fwd["openId"] != "o-frank" {
		t.Fatalf("upstream body: %q (%v)", body, err)
	}
	if method != "POST" || hdr.Get("Content-Type") != "application/json" || hdr.Get("X-Openid") != "o-frank" || hdr.Get("Authorization") != "" {
		t.Fatalf("upstream request: %s %v", method, hdr)
	}
	if strings.Contains(string(body), enc) || strings.Contains(string(body), UDSessionKey("frank.1")) {
		t.Fatal("the ciphertext or the key reached the upstream")
	}

	// rawData in forward mode: the verified rawData object is passed on.
	raw := `{"nickName":"Frank R"}`
	if st, _, _ := Do(t, c, "POST", At(UDPort, "/decrypt/forward"), Bearer(tok), JSONBody(t, map[string]string{"rawData": raw, "signature": sha1Hex(raw + UDSessionKey("frank.1"))})); st != 200 {
		t.Fatalf("forward rawData: %d", st)
	}
	if _, _, body, _ := up.Last(); string(body) != raw {
		t.Fatalf("forwarded rawData: %q", body)
	}

	// A failure never reaches the upstream.
	st, _, got = Do(t, c, "POST", At(UDPort, "/decrypt/forward"), Bearer(tok), JSONBody(t, map[string]string{"encryptedData": enc, "iv": base64.StdEncoding.EncodeToString(make([]byte, 8))}))
	if _, _, _, after := up.Last(); st != 400 || got["error"] != "invalid_request" || after != hits+1 {
		t.Fatalf("failed forward: %d %v, upstream hits %d -> %d", st, got, hits, after)
	}
}

// decryptAttempts is how many well-formed attempts one session may make
// in a minute.
const decryptAttempts = 60

// TestDecryptAttemptsBounded sends more decryption attempts than one
// session may make in a minute: the rest get 429 without being decrypted,
// and a new login (a new session) is not affected.
func TestDecryptAttemptsBounded(t *testing.T) {
	wx := NewFakeAPI(t)
	StartCaddy(t, UDConfig(wx.URL, NewBodyUpstream(t).URL, "", ""))
	c := NewClient()
	tok, _ := UDLogin(t, c, "erin.1", AppID)
	enc, iv := EncryptFor(t, UDSessionKey("erin.2"), AppID, map[string]any{"nickName": "Erin"})
	body := JSONBody(t, map[string]string{"encryptedData": enc, "iv": iv})
	for i := 0; i < decryptAttempts; i++ {
		if st, _, got := Do(t, c, "POST", At(UDPort, "/decrypt"), Bearer(tok), body); st != 422 {
			t.Fatalf("attempt %d: %d %v", i+1, st, got)
		}
	}
	st, h, got := Do(t, c, "POST", At(UDPort, "/decrypt"), Bearer(tok), body)
	if st != 429 || got["error"] != "rate_limited" || h.Get("Retry-After") == "" {
		t.Fatalf("attempt %d: %d %v", decryptAttempts+1, st, got)
	}
	fresh, _ := UDLogin(t, c, "erin.2", AppID)
	if st, _, got := Do(t, c, "POST", At(UDPort, "/decrypt"), Bearer(fresh), body); st != 200 || got["nickName"] != "Erin" {
		t.Fatalf("a new session: %d %v", st, got)
	}
}

// TestDecryptLimitCountsWellFormedAttemptsOnly: malformed requests (bad
// base64, a short IV) are refused before they count, as the README says
// (hardening round 2, item 13).
func TestDecryptLimitCountsWellFormedAttemptsOnly(t *testing.T) {
	wx := NewFakeAPI(t)
	StartCaddy(t, UDConfig(wx.URL, NewBodyUpstream(t).URL, "", ""))
	c := NewClient()
	tok, _ := UDLogin(t, c, "fay.1", AppID)
	enc, iv := EncryptFor(t, UDSessionKey("fay.1"), AppID, map[string]any{"nickName": "Fay"})
	malformed := []string{
		JSONBody(t, map[string]string{"encryptedData": "not base64!", "iv": iv}),
		JSONBody(t, map[string]string{"encryptedData": enc, "iv": "AAAA"}),
		JSONBody(t, map[string]string{"encryptedData": "AAAA", "iv": iv}),
	}
	for i := 0; i < decryptAttempts+10; i++ {
		if st, _, got := Do(t, c, "POST", At(UDPort, "/decrypt"), Bearer(tok), malformed[i%len(malformed)]); st != 400 {
			t.Fatalf("malformed %d: %d %v", i, st, got)
		}
	}
	if st, _, got := Do(t, c, "POST", At(UDPort, "/decrypt"), Bearer(tok), JSONBody(t, map[string]string{"encryptedData": enc, "iv": iv})); st != 200 {
		t.Fatalf("after malformed requests, a well-formed one: %d %v", st, got)
	}
}

// TestDecryptChecksTheOpenID: user info that names another openId is
// refused, even though it decrypts under this session's key and carries
// this app's watermark (hardening round 2, defect 12).
func TestDecryptChecksTheOpenID(t *testing.T) {
	wx := NewFakeAPI(t)
	StartCaddy(t, UDConfig(wx.URL, NewBodyUpstream(t).URL, "", ""))
	c := NewClient()
	tok, _ := UDLogin(t, c, "gus.1", AppID)
	sk := UDSessionKey("gus.1")
	for openID, want := range map[string]int{"o-gus": 200, "o-someone-else": 422, "": 422} {
		enc, iv := EncryptFor(t, sk, AppID, map[string]any{"nickName": "Gus", "openId": openID})
		st, _, got := Do(t, c, "POST", At(UDPort, "/decrypt"), Bearer(tok), JSONBody(t, map[string]string{"encryptedData": enc, "iv": iv}))
		if st != want || (want == 422 && got["error"] != "openid_mismatch") {
			t.Errorf("openId %q: %d %v, want %d", openID, st, got, want)
		}
	}
	// Data without an openId (share info, WeRun) has nothing to compare.
	enc, iv := EncryptFor(t, sk, AppID, map[string]any{"openGId": "gid"})
	if st, _, got := Do(t, c, "POST", At(UDPort, "/decrypt"), Bearer(tok), JSONBody(t, map[string]string{"encryptedData": enc, "iv": iv})); st != 200 {
		t.Errorf("share info: %d %v", st, got)
	}
}
