package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	. "github.com/caddy-wechat/caddy-wechat/internal/testenv"
)

// mockCall calls the simulator's own routes (the user paying, the
// deliveries).
func mockCall(t *testing.T, method, path string, body any) (int, map[string]any) {
	t.Helper()
	raw := ""
	if body != nil {
		b, _ := json.Marshal(body)
		raw = string(b)
	}
	st, _, ans := Do(t, NewClient(), method, MockBase()+path, http.Header{"Content-Type": {"application/json"}}, raw)
	return st, ans
}

// prepay makes an order through the edge and returns request_payment.
func prepay(t *testing.T, outTradeNo string, total int) map[string]any {
	t.Helper()
	body := fmt.Sprintf(`{"description":"demo","out_trade_no":%q,"amount":{"total":%d,"currency":"CNY"},"payer":{"openid":"oUser-%s"}}`, outTradeNo, total, outTradeNo)
	st, _, raw := payCall(t, "POST", "/v3/pay/transactions/jsapi", nil, body)
	if st != 200 {
		t.Fatalf("prepay %s: %d %s", outTradeNo, st, raw)
	}
	rp, ok := jsonOf(t, raw)["request_payment"].(map[string]any)
	if !ok {
		t.Fatalf("prepay %s: no request_payment in %s", outTradeNo, raw)
	}
	return rp
}

// deliveries lists the simulator's deliveries for an order.
func deliveries(t *testing.T, outTradeNo string) []any {
	t.Helper()
	st, ans := mockCall(t, "GET", "/mock/pay/notifications?out_trade_no="+outTradeNo, nil)
	if st != 200 {
		t.Fatalf("notifications: %d %v", st, ans)
	}
	list, _ := ans["notifications"].([]any)
	return list
}

// TestPayMockEndToEnd: the backend's prepay goes through wechatpay_api to
// the simulator, which checks our signature and signs its answer; the
// request_payment it gets back is what the WeChat client pays with (the
// simulator checks its paySign); the payment's notification, signed and
// sealed, reaches the backend through wechatpay_notify once, decrypted;
// the query shows the order paid; a refund sends REFUND.SUCCESS.
func TestPayMockEndToEnd(t *testing.T) {
	backend := NewNotifyBackend(t)
	files := WritePayFiles(t)
	StartCaddy(t, PayConfig(PaySetup{APIBase: MockBase(), Files: files, Backend: backend.URL, Keys: []string{files.PublicKey(), PayCertMode}}))
	order := uniqueID("E2E")

	rp := prepay(t, order, 888)
	// A paySign for another app, or altered, does not pay.
	bad := map[string]any{}
	for k, v := range rp {
		bad[k] = v
	}
	bad["nonceStr"] = strings.Repeat("0", 32)
	if st, ans := mockCall(t, "POST", "/mock/pay", bad); st != 400 || ans["error"] != "invalid_pay_sign" {
		t.Fatalf("altered request_payment: %d %v", st, ans)
	}
	st, paid := mockCall(t, "POST", "/mock/pay", rp)
	if st != 200 || paid["notify_status"] != float64(204) {
		t.Fatalf("paying: %d %v", st, paid)
	}
	calls := backend.WaitCalls(t, 1)
	var txn map[string]any
	if err := json.Unmarshal(calls[0].Body, &txn); err != nil {
		t.Fatalf("the backend got %q", calls[0].Body)
	}
	amount, _ := txn["amount"].(map[string]any)
	if txn["out_trade_no"] != order || txn["trade_state"] != "SUCCESS" || txn["transaction_id"] != paid["transaction_id"] || amount["total"] != float64(888) ||
		txn["mchid"] != PayMchID || txn["appid"] != AppID {
		t.Fatalf("the backend got %v", txn)
	}
	if calls[0].Header.Get("X-Wechatpay-Event-Type") != "TRANSACTION.SUCCESS" || calls[0].Header.Get("X-Wechatpay-Verified") != "1" || calls[0].Header.Get("X-Wechatpay-Event-Id") != paid["notification_id"] {
		t.Fatalf("the backend's headers: %v", calls[0].Header)
	}
	if st, ans := mockCall(t, "POST", "/mock/pay", rp); st != 409 || ans["error"] != "not_payable" {
		t.Fatalf("paying twice: %d %v", st, ans)
	}
	// WeChat Pay sending it again: acknowledged, not forwarded.
	if st, ans := mockCall(t, "POST", "/mock/pay/resend", map[string]any{"notification_id": paid["notification_id"]}); st != 200 || ans["notify_status"] != float64(204) {
		t.Fatalf("resending: %d %v", st, ans)
	}

	st, _, raw := payCall(t, "GET", "/v3/pay/transactions/out-trade-no/"+order, nil, "")
	if st != 200 || jsonOf(t, raw)["trade_state"] != "SUCCESS" {
		t.Fatalf("query: %d %s", st, raw)
	}
	st, _, raw = payCall(t, "GET", "/v3/pay/transactions/id/"+fmt.Sprint(paid["transaction_id"]), nil, "")
	if st != 200 || jsonOf(t, raw)["out_trade_no"] != order {
		t.Fatalf("query by transaction_id: %d %s", st, raw)
	}
	refund := fmt.Sprintf(`{"out_trade_no":%q,"out_refund_no":"R%s","amount":{"refund":88,"total":888,"currency":"CNY"}}`, order, order[1:])
	if st, _, raw := payCall(t, "POST", "/v3/refund/domestic/refunds", nil, refund); st != 200 || jsonOf(t, raw)["status"] != "PROCESSING" {
		t.Fatalf("refund: %d %s", st, raw)
	}
	calls = backend.WaitCalls(t, 2)
	if calls[1].Header.Get("X-Wechatpay-Event-Type") != "REFUND.SUCCESS" || !strings.Contains(string(calls[1].Body), `"refund_status":"SUCCESS"`) {
		t.Fatalf("refund notification: %v %s", calls[1].Header, calls[1].Body)
	}
	st, _, raw = payCall(t, "GET", "/v3/refund/domestic/refunds/R"+order[1:], nil, "")
	if st != 200 || jsonOf(t, raw)["status"] != "SUCCESS" {
		t.Fatalf("refund query: %d %s", st, raw)
	}
	// Closing a paid order is WeChat Pay's 400, relayed.
	if st, _, raw := payCall(t, "POST", "/v3/pay/transactions/out-trade-no/"+order+"/close", nil, ""); st != 400 || jsonOf(t, raw)["code"] != "ORDERPAID" {
		t.Fatalf("close a paid order: %d %s", st, raw)
	}
	// The bill, its unsigned file, and the hash that vouches for it.
	st, _, raw = payCall(t, "GET", "/v3/bill/tradebill?bill_date=2026-12-01", nil, "")
	if st != 200 {
		t.Fatalf("tradebill: %d %s", st, raw)
	}
	u := fmt.Sprint(jsonOf(t, raw)["download_url"])
	st, _, file := payCall(t, "GET", strings.TrimPrefix(u, MockBase()), nil, "")
	if st != 200 || !strings.Contains(string(file), order) {
		t.Fatalf("bill file: %d %s", st, file)
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(backend.Calls()); n != 2 {
		t.Fatalf("the backend saw %d notifications, want 2 (the payment once, the refund once)", n)
	}
}

// TestPayMockRetriesUntilAcknowledged: when the backend fails, the
// simulator retries as WeChat Pay does (here at 50, 100, 200 ms), the
// edge answers each failure with 500 and forwards each retry, and the
// first 2xx ends the deliveries: the backend takes the payment once.
func TestPayMockRetriesUntilAcknowledged(t *testing.T) {
	backend := NewNotifyBackend(t)
	backend.Answer(func(n int) int {
		if n <= 2 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	files := WritePayFiles(t)
	StartCaddy(t, PayConfig(PaySetup{APIBase: MockBase(), Files: files, Backend: backend.URL}))
	order := uniqueID("RETRY")
	prepay(t, order, 100)
	st, paid := mockCall(t, "POST", "/mock/pay", map[string]string{"out_trade_no": order})
	if st != 200 || paid["notify_status"] != float64(500) {
		t.Fatalf("paying: %d %v, want the first delivery answered 500", st, paid)
	}
	backend.WaitCalls(t, 3)
	waitFor(t, "the delivery to be acknowledged", func() bool {
		d := deliveries(t, order)
		return len(d) == 1 && d[0].(map[string]any)["delivered"] == true
	})
	d := deliveries(t, order)[0].(map[string]any)
	attempts := d["attempts"].([]any)
	var statuses []float64
	for _, a := range attempts {
		statuses = append(statuses, a.(map[string]any)["status"].(float64))
	}
	if fmt.Sprint(statuses) != "[500 500 204]" {
		t.Fatalf("attempts answered %v, want [500 500 204]", statuses)
	}
	time.Sleep(500 * time.Millisecond) // past the last retry interval
	if n := len(backend.Calls()); n != 3 {
		t.Fatalf("the backend saw %d calls, want 3 (two failures, one success)", n)
	}
}

// TestPayMockChecksSignatures: the simulator refuses, as WeChat Pay does,
// a request without our signature, with a signature over other bytes, or
// under another serial, and it answers signed under the certificate when
// the merchant has only platform_certificates.
func TestPayMockChecksSignatures(t *testing.T) {
	files := WritePayFiles(t)
	StartCaddy(t, PayConfig(PaySetup{APIBase: MockBase(), Files: files, Keys: []string{PayCertMode}}))
	order := uniqueID("SIG")

	// Through the edge: signed, downloaded certificates, verified.
	prepay(t, order, 1)

	// Straight to the simulator.
	for _, c := range []struct{ name, auth string }{
		{"no Authorization", ""},
		{"garbage", "WECHATPAY2-SHA256-RSA2048 nonsense"},
		{"another merchant", `WECHATPAY2-SHA256-RSA2048 mchid="1900000009",nonce_str="N",timestamp="1",serial_no="AB",signature="AA=="`},
		{"another serial", `WECHATPAY2-SHA256-RSA2048 mchid="` + PayMchID + `",nonce_str="N",timestamp="` + fmt.Sprint(time.Now().Unix()) + `",serial_no="ABCDEF",signature="AA=="`},
		{"bad signature", `WECHATPAY2-SHA256-RSA2048 mchid="` + PayMchID + `",nonce_str="N",timestamp="` + fmt.Sprint(time.Now().Unix()) + `",serial_no="` + PayMchSerial + `",signature="AAAA"`},
	} {
		st, _, ans := Do(t, NewClient(), "GET", MockBase()+"/v3/pay/transactions/out-trade-no/"+order+"?mchid="+PayMchID, http.Header{"Authorization": {c.auth}}, "")
		if st != 401 || ans["code"] != "SIGN_ERROR" {
			t.Errorf("%s: %d %v", c.name, st, ans)
		}
	}
	// The simulator serves its key for configuration.
	st, ans := mockCall(t, "GET", "/mock/pay/public_key", nil)
	if st != 200 || ans["public_key_id"] != PayPubKeyID || !strings.Contains(fmt.Sprint(ans["public_key_pem"]), "BEGIN PUBLIC KEY") {
		t.Fatalf("public key: %d %v", st, ans)
	}

	// Alternating serials, as during WeChat Pay's migration: a merchant
	// with both modes takes every answer and notification.
	backend := NewNotifyBackend(t)
	StartCaddy(t, PayConfig(PaySetup{APIBase: MockBase(), Files: files, Backend: backend.URL, Keys: []string{files.PublicKey(), PayCertMode}, Mock: "sign_with alternate"}))
	for i := range 4 {
		o := fmt.Sprintf("%s%d", order, i)
		rp := prepay(t, o, 1)
		if st, paid := mockCall(t, "POST", "/mock/pay", rp); st != 200 || paid["notify_status"] != float64(204) {
			t.Fatalf("payment %d: %d %v", i, st, paid)
		}
	}
	backend.WaitCalls(t, 4)
}
