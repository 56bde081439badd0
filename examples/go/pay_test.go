package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// fakePayAPI plays the edge's wechatpay_api: it records the prepay and
// answers as the edge does, request_payment included.
func fakePayAPI(t *testing.T, status int) (*httptest.Server, *[]map[string]any) {
	t.Helper()
	var got []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		raw, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(raw, &body)
		body["_path"] = r.URL.Path
		body["_auth"] = r.Header.Get("Authorization")
		got = append(got, body)
		w.WriteHeader(status)
		if status != 200 {
			_, _ = w.Write([]byte(`{"error":"wechatpay_signature","message":"x"}`))
			return
		}
		_, _ = w.Write([]byte(`{"prepay_id":"wx1","request_payment":{"timeStamp":"1","nonceStr":"N","package":"prepay_id=wx1","signType":"RSA","paySign":"S"}}`))
	}))
	t.Cleanup(srv.Close)
	return srv, &got
}

func shopCall(t *testing.T, h http.Handler, method, path, openid string, hdr map[string]string, body string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if openid != "" {
		req.Header.Set("X-Openid", openid)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var out map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	return rec.Code, out
}

// TestShopPaysAnOrder: an order's prepay goes to wechatpay_api without
// mchid, appid, notify_url or signature; the notification is taken once
// it matches the order, and refused when its amount or payer do not.
func TestShopPaysAnOrder(t *testing.T) {
	api, got := fakePayAPI(t, 200)
	h := newShop(api.URL).handler(newHandler())

	st, created := shopCall(t, h, "POST", "/api/pay/order", "o-alice", nil, `{"description":"tea","total":250}`)
	if st != 200 || created["request_payment"].(map[string]any)["signType"] != "RSA" {
		t.Fatalf("create: %d %v", st, created)
	}
	no := created["out_trade_no"].(string)
	sent := (*got)[0]
	if sent["_path"] != "/v3/pay/transactions/jsapi" || sent["out_trade_no"] != no || sent["_auth"] != "" || sent["mchid"] != nil || sent["appid"] != nil || sent["notify_url"] != nil {
		t.Fatalf("prepay sent %v", sent)
	}
	if sent["payer"].(map[string]any)["openid"] != "o-alice" || sent["amount"].(map[string]any)["total"] != float64(250) {
		t.Fatalf("prepay sent %v", sent)
	}

	verified := map[string]string{"X-Wechatpay-Verified": "1", "X-Wechatpay-Event-Type": "TRANSACTION.SUCCESS", "X-Wechatpay-Event-Id": "e1"}
	pay := func(total int, openid string) string {
		b, _ := json.Marshal(map[string]any{"out_trade_no": no, "transaction_id": "4200", "trade_state": "SUCCESS", "payer": map[string]string{"openid": openid}, "amount": map[string]any{"total": total}})
		return string(b)
	}
	if st, _ := shopCall(t, h, "POST", "/pay/notify", "", nil, pay(250, "o-alice")); st != 401 {
		t.Fatalf("without X-Wechatpay-Verified: %d", st)
	}
	if st, _ := shopCall(t, h, "POST", "/pay/notify", "", verified, pay(1, "o-alice")); st != 422 {
		t.Fatalf("another amount: %d", st)
	}
	if st, _ := shopCall(t, h, "POST", "/pay/notify", "", verified, pay(250, "o-mallory")); st != 422 {
		t.Fatalf("another payer: %d", st)
	}
	if st, _ := shopCall(t, h, "POST", "/pay/notify", "", verified, strings.Replace(pay(250, "o-alice"), no, "DEMO-NOT-OURS", 1)); st != 422 {
		t.Fatalf("an order the shop did not make: %d", st)
	}
	if st, _ := shopCall(t, h, "POST", "/pay/notify", "", verified, pay(250, "o-alice")); st != 200 {
		t.Fatalf("the notification: %d", st)
	}
	st, o := shopCall(t, h, "GET", "/api/pay/order/"+no, "o-alice", nil, "")
	if st != 200 || o["state"] != "paid" || o["transaction_id"] != "4200" || o["notifications"] != float64(1) {
		t.Fatalf("order: %d %v", st, o)
	}
	if st, _ := shopCall(t, h, "GET", "/api/pay/order/"+no, "o-mallory", nil, ""); st != 404 {
		t.Fatalf("someone else's order: %d", st)
	}
	refund := map[string]string{"X-Wechatpay-Verified": "1", "X-Wechatpay-Event-Type": "REFUND.SUCCESS"}
	if st, _ := shopCall(t, h, "POST", "/pay/notify", "", refund, `{"out_trade_no":"`+no+`","refund_status":"SUCCESS"}`); st != 200 {
		t.Fatalf("refund: %d", st)
	}
	if _, o := shopCall(t, h, "GET", "/api/pay/order/"+no, "o-alice", nil, ""); o["state"] != "refunded" {
		t.Fatalf("after the refund: %v", o)
	}
	// Other routes still reach the echo.
	if st, body := shopCall(t, h, "GET", "/api/other", "o-alice", nil, ""); st != 200 || body["backend"] != "go" {
		t.Fatalf("echo: %d %v", st, body)
	}
}

func TestShopRefusals(t *testing.T) {
	api, _ := fakePayAPI(t, 502)
	h := newShop(api.URL).handler(newHandler())
	if st, _ := shopCall(t, h, "POST", "/api/pay/order", "", nil, `{"total":1}`); st != 401 {
		t.Fatalf("anonymous: %d", st)
	}
	for _, b := range []string{`{"total":0}`, `{"total":-1}`, `not json`, `{"total":100001}`} {
		if st, _ := shopCall(t, h, "POST", "/api/pay/order", "o-a", nil, b); st != 400 {
			t.Fatalf("%s: %d", b, st)
		}
	}
	if st, body := shopCall(t, h, "POST", "/api/pay/order", "o-a", nil, `{"total":1}`); st != 502 || body["error"] != "prepay_failed" {
		t.Fatalf("edge refusing: %d %v", st, body)
	}
}
