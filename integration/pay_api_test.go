package integration

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	. "github.com/caddy-wechat/caddy-wechat/internal/testenv"
)

// payCall sends a backend's request to the wechatpay_api listener and
// returns the status, the headers and the raw body.
func payCall(t *testing.T, method, path string, hdr http.Header, body string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, PayAPI(path), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	resp, err := NewClient().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, raw
}

// jsonOf decodes an answer, failing the test with the raw text.
func jsonOf(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("not JSON: %q", raw)
	}
	return v
}

// verifyPaySign checks a paySign with crypto/rsa over the documented
// message appId\ntimeStamp\nnonceStr\npackage\n.
func verifyPaySign(pub *rsa.PublicKey, appID string, p map[string]any) error {
	msg := fmt.Sprintf("%s\n%s\n%s\n%s\n", appID, p["timeStamp"], p["nonceStr"], p["package"])
	sig, err := base64.StdEncoding.DecodeString(fmt.Sprint(p["paySign"]))
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(msg))
	return rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig)
}

const prepayBody = `{"description":"Image形象店-深圳腾大-QQ公仔","out_trade_no":"ORDER20240101000001","amount":{"total":100,"currency":"CNY"},"payer":{"openid":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}}`

// TestPayAPIPrepayFillsAndSigns: the backend sends WeChat Pay's JSAPI
// prepay without mchid, appid, notify_url or Authorization; WeChat Pay
// receives them filled in ahead of the backend's own bytes, under an
// Authorization it verifies itself, and the backend gets WeChat Pay's
// exact answer with request_payment added, whose paySign verifies.
func TestPayAPIPrepayFillsAndSigns(t *testing.T) {
	wx := NewFakePay(t)
	files := WritePayFiles(t)
	StartCaddy(t, PayConfig(PaySetup{APIBase: wx.URL, Files: files}))

	st, hdr, raw := payCall(t, "POST", "/v3/pay/transactions/jsapi", http.Header{
		"Content-Type":  {"application/json"},
		"Authorization": {"WECHATPAY2-SHA256-RSA2048 mchid=\"1\",signature=\"backend-must-not-sign\""},
		"Cookie":        {"session=backend-cookie"},
	}, prepayBody)
	if st != 200 {
		t.Fatalf("prepay: %d %s", st, raw)
	}
	got := wx.Last(t)
	if !got.AuthOK {
		t.Fatalf("the fake WeChat Pay refused our Authorization: %q", got.Header.Get("Authorization"))
	}
	wantSent := `{"mchid":"` + PayMchID + `","appid":"` + AppID + `","notify_url":"` + NotifyURL() + `",` + prepayBody[1:]
	if string(got.Body) != wantSent {
		t.Fatalf("WeChat Pay received\n%s\nwant\n%s", got.Body, wantSent)
	}
	if got.Method != "POST" || got.URI != "/v3/pay/transactions/jsapi" || got.Header.Get("Cookie") != "" || got.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("sent %s %s %v", got.Method, got.URI, got.Header)
	}

	// WeChat Pay's own bytes first, then request_payment.
	wantPrefix := `{"prepay_id": "` + FakePrepayID + `", "marker": "` + PayBodyMarker + `","request_payment":`
	if !bytes.HasPrefix(raw, []byte(wantPrefix)) {
		t.Fatalf("answer %s, want it to start with %s", raw, wantPrefix)
	}
	if hdr.Get("Request-ID") != "fake-request-id-0001" || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") || hdr.Get("Cache-Control") != "no-store" {
		t.Fatalf("answer headers %v", hdr)
	}
	ans := jsonOf(t, raw)
	rp, ok := ans["request_payment"].(map[string]any)
	if !ok || len(rp) != 5 {
		t.Fatalf("request_payment %v, want exactly the five wx.requestPayment parameters", ans["request_payment"])
	}
	if rp["package"] != "prepay_id="+FakePrepayID || rp["signType"] != "RSA" || len(fmt.Sprint(rp["nonceStr"])) != 32 {
		t.Fatalf("request_payment %v", rp)
	}
	if ts, ok := rp["timeStamp"].(string); !ok || ts != fmt.Sprint(time.Now().Unix()) && ts != fmt.Sprint(time.Now().Unix()-1) {
		t.Fatalf("timeStamp %v is not now in unix seconds, as a string", rp["timeStamp"])
	}
	if err := verifyPaySign(&Keys(t).Merchant.PublicKey, AppID, rp); err != nil {
		t.Fatalf("paySign does not verify over appId\\ntimeStamp\\nnonceStr\\npackage\\n: %v", err)
	}
	if verifyPaySign(&Keys(t).Merchant.PublicKey, AppID2, rp) == nil {
		t.Fatal("paySign verifies for another appid")
	}

	// What the backend gave is kept: its appid (one of the merchant's),
	// its notify_url, and a body that already has everything is sent
	// byte for byte.
	full := `{"appid":"` + AppID + `","mchid":"` + PayMchID + `","description":"d","out_trade_no":"ORDER20240101000002","notify_url":"https://shop.example.com/n","amount":{"total":1},"payer":{"openid":"o1"}}`
	if st, _, raw := payCall(t, "POST", "/v3/pay/transactions/jsapi", nil, full); st != 200 || string(wx.Last(t).Body) != full {
		t.Fatalf("complete body: %d %s; sent %s", st, raw, wx.Last(t).Body)
	}
	// Whitespace and all: the signature covers the bytes sent.
	spaced := "  {\n  \"description\" : \"d\", \"out_trade_no\":\"ORDER20240101000003\",\"amount\":{\"total\":1},\"payer\":{\"openid\":\"o1\"}}\n"
	if st, _, raw := payCall(t, "POST", "/v3/pay/transactions/jsapi", nil, spaced); st != 200 || !wx.Last(t).AuthOK {
		t.Fatalf("spaced body: %d %s", st, raw)
	}
	if sent := string(wx.Last(t).Body); !strings.HasSuffix(sent, "\"description\" : \"d\", \"out_trade_no\":\"ORDER20240101000003\",\"amount\":{\"total\":1},\"payer\":{\"openid\":\"o1\"}}") {
		t.Fatalf("the backend's bytes were rewritten: %q", sent)
	}
}

// TestPayAPIPassThrough: query by out_trade_no and by transaction_id
// (mchid added to the query), close (204), refund (notify_url filled in)
// and refund query go through signed and verified; WeChat Pay's signed
// error answers are relayed with their status.
func TestPayAPIPassThrough(t *testing.T) {
	wx := NewFakePay(t)
	files := WritePayFiles(t)
	StartCaddy(t, PayConfig(PaySetup{APIBase: wx.URL, Files: files}))

	cases := []struct {
		method, path, body string
		status             int
		sentURI, sentBody  string
		answerHas          string
	}{
		{"GET", "/v3/pay/transactions/out-trade-no/ORDER0001", "", 200, "/v3/pay/transactions/out-trade-no/ORDER0001?mchid=" + PayMchID, "", `"out_trade_no": "ORDER0001"`},
		{"GET", "/v3/pay/transactions/out-trade-no/ORDER0001?mchid=" + PayMchID, "", 200, "/v3/pay/transactions/out-trade-no/ORDER0001?mchid=" + PayMchID, "", `"trade_state": "SUCCESS"`},
		{"GET", "/v3/pay/transactions/id/4200000000000000000000000001?x=1", "", 200, "/v3/pay/transactions/id/4200000000000000000000000001?x=1&mchid=" + PayMchID, "", `"transaction_id": "4200000000000000000000000001"`},
		{"POST", "/v3/pay/transactions/out-trade-no/ORDER0001/close", "", 204, "/v3/pay/transactions/out-trade-no/ORDER0001/close", `{"mchid":"` + PayMchID + `"}`, ""},
		{"POST", "/v3/refund/domestic/refunds", `{"out_trade_no":"ORDER0001","out_refund_no":"REFUND0001","amount":{"refund":1,"total":100,"currency":"CNY"}}`, 200,
			"/v3/refund/domestic/refunds", `{"notify_url":"` + NotifyURL() + `","out_trade_no":"ORDER0001","out_refund_no":"REFUND0001","amount":{"refund":1,"total":100,"currency":"CNY"}}`, `"notify_url_received":"` + NotifyURL() + `"`},
		{"GET", "/v3/refund/domestic/refunds/REFUND0001", "", 200, "/v3/refund/domestic/refunds/REFUND0001", "", `"status": "SUCCESS"`},
		{"POST", "/v3/errors", `{"x":1}`, 400, "/v3/errors", `{"x":1}`, `"code": "PARAM_ERROR"`},
		{"GET", "/v3/unknown/api", "", 404, "/v3/unknown/api", "", `"code":"NOT_FOUND"`},
	}
	for _, c := range cases {
		st, _, raw := payCall(t, c.method, c.path, nil, c.body)
		got := wx.Last(t)
		if st != c.status || !got.AuthOK || got.URI != c.sentURI || string(got.Body) != c.sentBody || !strings.Contains(string(raw), c.answerHas) {
			t.Errorf("%s %s: %d %s; WeChat Pay got %s %q auth %v", c.method, c.path, st, raw, got.URI, got.Body, got.AuthOK)
		}
		if c.status == 204 && len(raw) != 0 {
			t.Errorf("%s: a 204 with a body %q", c.path, raw)
		}
	}
}

// TestPayAPIBillDownloadUnsigned: the bill answer is verified as any
// other; the file it points to is not signed by WeChat Pay, and comes
// through all the same, for the backend to check against hash_value.
func TestPayAPIBillDownloadUnsigned(t *testing.T) {
	wx := NewFakePay(t)
	StartCaddy(t, PayConfig(PaySetup{APIBase: wx.URL, Files: WritePayFiles(t)}))

	st, _, raw := payCall(t, "GET", "/v3/bill/tradebill?bill_date=2026-12-01", nil, "")
	if st != 200 {
		t.Fatalf("tradebill: %d %s", st, raw)
	}
	bill := jsonOf(t, raw)
	u := fmt.Sprint(bill["download_url"])
	pathQuery := strings.TrimPrefix(u, wx.URL)
	st, hdr, file := payCall(t, "GET", pathQuery, nil, "")
	if st != 200 || !bytes.Equal(file, FakeBillFile()) || !wx.Last(t).AuthOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/plain") {
		t.Fatalf("bill file: %d %v %q", st, hdr, file)
	}
	sum := sha1.Sum(file)
	if hex.EncodeToString(sum[:]) != bill["hash_value"] {
		t.Fatal("the file does not match the signed hash_value")
	}
	// The exemption is for the bill file only: the same unsigned answer
	// anywhere else is refused.
	wx.Set(func(f *FakePay) { f.Mode = "unsigned" })
	if st, _, raw := payCall(t, "GET", "/v3/bill/tradebill?bill_date=2026-12-01", nil, ""); st != 502 || jsonOf(t, raw)["error"] != "wechatpay_signature" {
		t.Fatalf("unsigned bill answer: %d %s", st, raw)
	}
	// A refused download is WeChat Pay's 4xx, without its body.
	wx.Set(func(f *FakePay) { f.Mode = "" })
	st, _, raw = payCall(t, "GET", "/v3/billdownload/file?token=EXPIRED", nil, "")
	if st != 400 || jsonOf(t, raw)["error"] != "wechatpay_error" || bytes.Contains(raw, []byte(PayBodyMarker)) {
		t.Fatalf("refused download: %d %s", st, raw)
	}
}

// TestPayAPIRefusesBadAnswers: an answer whose signature fails for any
// reason (a tampered body, a re-serialised body, an unknown serial, a
// serial that names another trusted key, a stale timestamp either way, a
// key we do not trust, no signature) is a 502 wechatpay_signature, and
// nothing of its body reaches the backend.
func TestPayAPIRefusesBadAnswers(t *testing.T) {
	wx := NewFakePay(t)
	wx.Set(func(f *FakePay) { f.Certs = append(f.Certs, Keys(t).RotatedCert) })
	files := WritePayFiles(t)
	StartCaddy(t, PayConfig(PaySetup{APIBase: wx.URL, Files: files, Keys: []string{files.PublicKey(), PayCertMode}}))
	// With the rotated certificate downloaded, "mislabelled" names a key
	// we hold.
	wx.Set(func(f *FakePay) { f.Serial = Keys(t).RotatedCertSerial })
	waitFor(t, "the platform certificates", func() bool {
		st, _, _ := payCall(t, "GET", "/v3/pay/transactions/out-trade-no/ORDER0001", nil, "")
		return st == 200
	})
	wx.Set(func(f *FakePay) { f.Serial = PayPubKeyID })

	for _, mode := range []string{"tampered", "reserialised", "unknown-serial", "mislabelled", "stale-past", "stale-future", "wrong-key", "unsigned"} {
		wx.Set(func(f *FakePay) { f.Mode = mode })
		for _, c := range []struct{ method, path, body string }{
			{"POST", "/v3/pay/transactions/jsapi", prepayBody},
			{"GET", "/v3/pay/transactions/out-trade-no/ORDER0001", ""},
			{"POST", "/v3/errors", "{}"},
		} {
			st, _, raw := payCall(t, c.method, c.path, nil, c.body)
			if st != 502 || jsonOf(t, raw)["error"] != "wechatpay_signature" {
				t.Errorf("%s %s: %d %s, want 502 wechatpay_signature", mode, c.path, st, raw)
			}
			if bytes.Contains(raw, []byte(PayBodyMarker)) || bytes.Contains(raw, []byte("prepay_id")) {
				t.Errorf("%s %s: the refused answer's body reached the backend: %s", mode, c.path, raw)
			}
		}
	}
	wx.Set(func(f *FakePay) { f.Mode = "" })
	if st, _, raw := payCall(t, "POST", "/v3/pay/transactions/jsapi", nil, prepayBody); st != 200 {
		t.Fatalf("after the refusals: %d %s", st, raw)
	}
	// Signed under the downloaded certificate: accepted too.
	wx.Set(func(f *FakePay) { f.Serial = Keys(t).CertSerial })
	if st, _, raw := payCall(t, "POST", "/v3/pay/transactions/jsapi", nil, prepayBody); st != 200 {
		t.Fatalf("signed under the platform certificate: %d %s", st, raw)
	}
}

// TestPayAPITimeout: WeChat Pay not answering within the app's timeout
// is a 504 wechatpay_timeout.
func TestPayAPITimeout(t *testing.T) {
	wx := NewFakePay(t)
	wx.Set(func(f *FakePay) { f.Mode = "hang" })
	StartCaddy(t, PayConfig(PaySetup{APIBase: wx.URL, Files: WritePayFiles(t)}))
	start := time.Now()
	st, _, raw := payCall(t, "POST", "/v3/pay/transactions/jsapi", nil, prepayBody)
	if st != 504 || jsonOf(t, raw)["error"] != "wechatpay_timeout" {
		t.Fatalf("hanging WeChat Pay: %d %s", st, raw)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("took %v with timeout 1s", d)
	}
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
