package integration

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	. "github.com/caddy-wechat/caddy-wechat/internal/testenv"
)

// payAccessLog is the access log the README recommends for the pay
// sites: Caddy logs request headers as they came, and WeChat Pay's
// signature header is one of them.
const payAccessLog = `log {
		output file %s
		format filter {
			request>headers>Wechatpay-Signature delete
		}
	}`

// TestPayLogsHoldNoSecrets runs the pay flows, failures included, with
// Caddy logging at DEBUG to a file and access logs on the pay sites, and
// searches the file for the private keys, the APIv3 key, every signature
// of the run (requests, answers, notifications, paySign) and the
// decrypted resource. The refusals are there, with the serial and the
// reason.
func TestPayLogsHoldNoSecrets(t *testing.T) {
	wx := NewFakePay(t)
	backend := NewNotifyBackend(t)
	backend.Answer(func(n int) int {
		if n == 1 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	logFile := filepath.Join(t.TempDir(), "caddy.log")
	files := WritePayFiles(t)
	StartCaddy(t, PayConfig(PaySetup{
		APIBase: wx.URL, Files: files, Backend: backend.URL,
		Global: fmt.Sprintf("log {\n\t\toutput file %s\n\t\tlevel DEBUG\n\t}", logFile),
		InSite: fmt.Sprintf(payAccessLog, logFile),
	}))
	var signatures []string

	// wechatpay_api: a prepay, a query, a refused answer.
	st, _, raw := payCall(t, "POST", "/v3/pay/transactions/jsapi", nil, prepayBody)
	if st != 200 {
		t.Fatalf("prepay: %d %s", st, raw)
	}
	signatures = append(signatures, fmt.Sprint(jsonOf(t, raw)["request_payment"].(map[string]any)["paySign"]))
	if st, _, _ := payCall(t, "GET", "/v3/pay/transactions/out-trade-no/ORDER0001", nil, ""); st != 200 {
		t.Fatal("query")
	}
	wx.Set(func(f *FakePay) { f.Mode = "tampered" })
	if st, _, _ := payCall(t, "GET", "/v3/pay/transactions/out-trade-no/ORDER0001", nil, ""); st != 502 {
		t.Fatal("tampered answer")
	}
	wx.Set(func(f *FakePay) { f.Mode = "" })
	for _, r := range wx.Received() {
		if m := regexp.MustCompile(`signature="([^"]+)"`).FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
			signatures = append(signatures, m[1])
		}
	}

	// wechatpay_notify: the resource carries markers that must stay out.
	const attach, openid = "RESOURCE-MARKER-attach-8d2f", "oRESOURCE-MARKER-openid-71c3"
	n := NewTransactionNotification(t, uniqueID("logs"), "ORDER0060")
	n.Resource["attach"] = attach
	n.Resource["payer"] = map[string]string{"openid": openid}
	body := n.Body(t)
	send := func(h http.Header, b []byte, want int) {
		t.Helper()
		if st, ans := notify(t, h, b); st != want {
			t.Fatalf("notification: %d %v, want %d", st, ans, want)
		}
		signatures = append(signatures, h.Get("Wechatpay-Signature"))
	}
	send(n.Sign(body), body, 500) // the backend fails once
	send(n.Sign(body), body, 204)
	send(n.Sign(body), body, 204) // a duplicate
	forged := *n
	forged.Serial = "PUB_KEY_ID_0199999999999999999999999999999999"
	send(forged.Sign(body), body, 401)
	other := *n
	other.APIv3Key = PayOtherAPIv3Key
	ob := other.Body(t)
	send(other.Sign(ob), ob, 400)
	if calls := backend.WaitCalls(t, 2); !strings.Contains(string(calls[1].Body), attach) {
		t.Fatal("the markers did not reach the backend: the test would prove nothing")
	}

	time.Sleep(200 * time.Millisecond) // let the access log entries land
	logs, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	text := string(logs)
	for _, want := range []string{
		`"level":"debug"`, `"msg":"wechatpay_api call"`, "wechatpay_api answer refused: its signature does not verify",
		"wechatpay notification forwarded", "wechatpay notification already acknowledged", "not taken by the backend",
		`"serial":"PUB_KEY_ID_0199999999999999999999999999999999","reason":"unknown_serial"`,
		"signed, but it does not open", `"logger":"http.log.access`, `"uri":"/pay/notify"`,
	} {
		if !strings.Contains(text, want) {
			t.Fatalf("log capture lacks %q; the test would prove nothing:\n%.4000s", want, text)
		}
	}

	secrets := map[string]string{
		"APIv3 key":      PayAPIv3Key,
		"other APIv3":    PayOtherAPIv3Key,
		"attach":         attach,
		"payer openid":   openid,
		"answer body":    PayBodyMarker,
		"prepay body":    "QQ公仔",
		"prepay body/ue": `\u516c\u4ed4`,
	}
	for i, line := range append(PrivateKeyPEMLines(t, Keys(t).Merchant), PrivateKeyPEMLines(t, Keys(t).WeChat)...) {
		secrets[fmt.Sprintf("private key line %d", i)] = line
	}
	for i, s := range signatures {
		if s == "" {
			t.Fatalf("signature %d is empty", i)
		}
		secrets[fmt.Sprintf("signature %d", i)] = s
		// JSON escapes '/' and '+' as they are; the base64 as it is, and
		// a distinctive middle part, should a log cut it.
		secrets[fmt.Sprintf("signature %d (middle)", i)] = s[40:80]
	}
	// The sealed resource's plaintext, base64 as the ciphertext is not,
	// but just in case a decoder logged it.
	secrets["resource base64"] = base64.StdEncoding.EncodeToString(n.Plaintext(t))[:40]
	for name, s := range secrets {
		if i := strings.Index(text, s); i >= 0 {
			t.Errorf("%s found in the logs: ...%s...", name, text[max(0, i-200):min(len(text), i+len(s)+50)])
		}
	}
}

// TestPayMetrics: pay calls by API and result, notifications by event
// type and outcome, and refused signatures by serial (the serial when it
// is ours, "unknown" otherwise) are in Caddy's metrics.
func TestPayMetrics(t *testing.T) {
	wx := NewFakePay(t)
	backend := NewNotifyBackend(t)
	StartCaddy(t, PayConfig(PaySetup{APIBase: wx.URL, Files: WritePayFiles(t), Backend: backend.URL}))

	payCall(t, "POST", "/v3/pay/transactions/jsapi", nil, prepayBody)
	payCall(t, "POST", "/v3/errors", nil, "{}")
	wx.Set(func(f *FakePay) { f.Mode = "wrong-key" })
	payCall(t, "GET", "/v3/refund/domestic/refunds/R1", nil, "")
	wx.Set(func(f *FakePay) { f.Mode = "" })
	payCall(t, "GET", "/v2/nothing", nil, "")

	n := NewTransactionNotification(t, uniqueID("metrics"), "ORDER0070")
	b := n.Body(t)
	notify(t, n.Sign(b), b)
	notify(t, n.Sign(b), b)
	forged := *n
	forged.Serial = "PUB_KEY_ID_0188888888888888888888888888888888"
	notify(t, forged.Sign(b), b)
	forged.Serial, forged.Key = PayPubKeyID, Keys(t).Other
	notify(t, forged.Sign(b), b)

	resp, err := http.Get(AdminURL("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(raw)
	for _, want := range []string{
		`caddy_wechatpay_api_calls_total{api="jsapi",result="ok"}`,
		`caddy_wechatpay_api_calls_total{api="other",result="error_answer"}`,
		`caddy_wechatpay_api_calls_total{api="refund_query",result="bad_signature"}`,
		`caddy_wechatpay_api_calls_total{api="none",result="refused"}`,
		`caddy_wechatpay_notifications_total{event_type="TRANSACTION.SUCCESS",outcome="forwarded"}`,
		`caddy_wechatpay_notifications_total{event_type="TRANSACTION.SUCCESS",outcome="duplicate"}`,
		`caddy_wechatpay_notifications_total{event_type="unknown",outcome="bad_signature"}`,
		`caddy_wechatpay_signature_failures_total{serial="unknown",source="notification"}`,
		`caddy_wechatpay_signature_failures_total{serial="` + PayPubKeyID + `",source="notification"}`,
		`caddy_wechatpay_signature_failures_total{serial="` + PayPubKeyID + `",source="answer"}`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(text, "0188888888888888888888888888888888") {
		t.Error("a forger's serial became a label")
	}
}
