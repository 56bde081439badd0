package mock

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/caddy-wechat/caddy-wechat/internal/reply"
	"github.com/caddy-wechat/caddy-wechat/wechatpay"
)

// The simulator's notifications: the user paying (POST /mock/pay), and
// the signed, encrypted deliveries to notify_url with WeChat Pay's
// retries.

// payDelivery is one notification and what became of it.
type payDelivery struct {
	ID          string       `json:"id"`
	EventType   string       `json:"event_type"`
	OutTradeNo  string       `json:"out_trade_no,omitempty"`
	OutRefundNo string       `json:"out_refund_no,omitempty"`
	URL         string       `json:"url"`
	Delivered   bool         `json:"delivered"`
	Attempts    []payAttempt `json:"attempts"`

	mchid string
	body  []byte // the same bytes on every attempt; the signature is new each time
}

// payAttempt is one POST of a notification.
type payAttempt struct {
	At     time.Time `json:"at"`
	Serial string    `json:"serial"`
	Status int       `json:"status,omitempty"`
	Error  string    `json:"error,omitempty"`
}

// payOrder is POST /mock/pay: the user pays. The body is {"out_trade_no"}
// (and "mchid" when several merchants could have it), or the
// request_payment object of the prepay answer, whose paySign is checked
// as the WeChat client checks it. The answer comes after the first
// delivery of TRANSACTION.SUCCESS and tells its status; retries go on in
// the background.
func (m *PayMock) payOrder(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		mockJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method_not_allowed", "message": "POST {\"out_trade_no\"} or the request_payment object"})
		return
	}
	body, rerr := reply.Read(w, r, maxMockBody)
	if rerr != nil {
		mockJSON(w, rerr.Status, rerr)
		return
	}
	var req struct {
		OutTradeNo string `json:"out_trade_no"`
		MchID      string `json:"mchid"`
		AppID      string `json:"appId"`
		wechatpay.PaymentParams
	}
	if err := reply.DecodeJSON(body, &req); err != nil {
		mockJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "message": reply.Problem(err, "the body must be JSON: {\"out_trade_no\"} or the request_payment object")})
		return
	}
	bad := func(status int, code, msg string) {
		mockJSON(w, status, map[string]string{"error": code, "message": msg})
	}
	s := m.state
	s.mu.Lock()
	var o *payOrder
	switch {
	case req.Package != "":
		o = s.byPrepay[strings.TrimPrefix(req.Package, "prepay_id=")]
	case req.OutTradeNo != "" && req.MchID != "":
		o = s.orders[req.MchID+"\x00"+req.OutTradeNo]
	case req.OutTradeNo != "":
		for _, cand := range s.orders {
			if cand.OutTradeNo == req.OutTradeNo {
				if o != nil {
					s.mu.Unlock()
					bad(http.StatusBadRequest, "invalid_request", "several merchants have this out_trade_no: add \"mchid\"")
					return
				}
				o = cand
			}
		}
	default:
		s.mu.Unlock()
		bad(http.StatusBadRequest, "invalid_request", "send {\"out_trade_no\"} or the request_payment object of the prepay answer")
		return
	}
	if o == nil {
		s.mu.Unlock()
		bad(http.StatusNotFound, "order_not_found", "no such order: make it with a JSAPI prepay first")
		return
	}
	if req.Package != "" {
		_, pub, _ := m.app.MerchantKey(o.MchID)
		switch {
		case req.AppID != "" && req.AppID != o.AppID:
			s.mu.Unlock()
			bad(http.StatusBadRequest, "invalid_pay_sign", "appId is not the app the order was made for")
			return
		case pub == nil || wechatpay.VerifyPaySign(pub, o.AppID, req.PaymentParams) != nil:
			s.mu.Unlock()
			bad(http.StatusBadRequest, "invalid_pay_sign", "paySign does not verify with the merchant's key over appId, timeStamp, nonceStr and package (支付验证签名失败)")
			return
		}
	}
	if o.State != "NOTPAY" {
		state := o.State
		s.mu.Unlock()
		bad(http.StatusConflict, "not_payable", "the order is "+state)
		return
	}
	o.State, o.TransactionID, o.SuccessTime = "SUCCESS", "4200"+digits(24), time.Now()
	s.byTxn[o.MchID+"\x00"+o.TransactionID] = o
	res := o.transaction()
	mchid, url, outTradeNo, txn := o.MchID, o.NotifyURL, o.OutTradeNo, o.TransactionID
	s.mu.Unlock()

	d, first := m.notify(mchid, url, "TRANSACTION.SUCCESS", "支付成功", "transaction", res, outTradeNo, "", true)
	if d == nil {
		bad(http.StatusInternalServerError, "internal", "the simulator could not seal the notification")
		return
	}
	mockJSON(w, http.StatusOK, map[string]any{
		"out_trade_no":    outTradeNo,
		"transaction_id":  txn,
		"notification_id": d.ID,
		"notify_status":   first.Status,
		"notify_error":    first.Error,
	})
}

// notify seals resource under the merchant's APIv3 key, as WeChat Pay
// does, and delivers it to url until it gets a 2xx or the retries run
// out. With wait, the first attempt is made before it returns.
func (m *PayMock) notify(mchid, url, eventType, summary, originalType string, resource any, outTradeNo, outRefundNo string, wait bool) (*payDelivery, payAttempt) {
	plain, err := json.Marshal(resource)
	if err != nil {
		return nil, payAttempt{}
	}
	res, err := m.app.Seal(mchid, plain, originalType, originalType)
	if err != nil {
		return nil, payAttempt{}
	}
	id := newUUID()
	body, err := json.Marshal(map[string]any{
		"id":            id,
		"create_time":   time.Now().In(chinaTime).Format(time.RFC3339),
		"resource_type": "encrypt-resource",
		"event_type":    eventType,
		"summary":       summary,
		"resource":      res,
	})
	if err != nil {
		return nil, payAttempt{}
	}
	d := &payDelivery{ID: id, EventType: eventType, OutTradeNo: outTradeNo, OutRefundNo: outRefundNo, URL: url, mchid: mchid, body: body}
	s := m.state
	s.mu.Lock()
	s.deliveries = append(s.deliveries, d)
	if len(s.deliveries) > maxDeliveries {
		s.deliveries = s.deliveries[len(s.deliveries)-maxDeliveries:]
	}
	s.mu.Unlock()

	var first payAttempt
	if wait {
		first = m.attempt(d)
		if first.ok() {
			return d, first
		}
	}
	s.running.Add(1)
	go func() {
		defer s.running.Done()
		if !wait && m.attempt(d).ok() {
			return
		}
		for _, pause := range m.retries {
			t := time.NewTimer(pause)
			select {
			case <-s.ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			if m.attempt(d).ok() {
				return
			}
		}
	}()
	return d, first
}

func (a payAttempt) ok() bool { return a.Status >= 200 && a.Status <= 299 }

// attempt POSTs the notification once, signed afresh.
func (m *PayMock) attempt(d *payDelivery) payAttempt {
	s := m.state
	a := payAttempt{At: time.Now(), Serial: m.serialFor(d.mchid)}
	ctx, cancel := context.WithTimeout(s.ctx, m.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(d.body))
	if err == nil {
		nonce, _ := wechatpay.NewNonce()
		err = wechatpay.SignResponseHeaders(req.Header, m.key, a.Serial, d.body, a.At.Unix(), nonce)
	}
	if err == nil {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "Mozilla/4.0 (caddy-wechat wechatpay_mock)")
		var resp *http.Response
		if resp, err = s.client.Do(req); err == nil {
			a.Status = resp.StatusCode
			_ = resp.Body.Close()
		}
	}
	if err != nil {
		a.Error = err.Error()
	}
	s.mu.Lock()
	d.Attempts = append(d.Attempts, a)
	d.Delivered = d.Delivered || a.ok()
	s.mu.Unlock()
	return a
}

// listNotifications is GET /mock/pay/notifications[?out_trade_no=…].
func (m *PayMock) listNotifications(w http.ResponseWriter, r *http.Request) {
	want := r.URL.Query().Get("out_trade_no")
	s := m.state
	s.mu.Lock()
	out := make([]payDelivery, 0, len(s.deliveries))
	for _, d := range s.deliveries {
		if want == "" || d.OutTradeNo == want {
			c := *d
			c.Attempts = append([]payAttempt(nil), d.Attempts...)
			out = append(out, c)
		}
	}
	s.mu.Unlock()
	mockJSON(w, http.StatusOK, map[string]any{"notifications": out})
}

// resend is POST /mock/pay/resend {"notification_id"}: one more
// delivery of a notification, whatever became of the earlier ones.
func (m *PayMock) resend(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		mockJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method_not_allowed", "message": "POST {\"notification_id\"}"})
		return
	}
	body, rerr := reply.Read(w, r, maxMockBody)
	if rerr != nil {
		mockJSON(w, rerr.Status, rerr)
		return
	}
	var req struct {
		ID string `json:"notification_id"`
	}
	if err := reply.DecodeJSON(body, &req); err != nil || req.ID == "" {
		mockJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "message": "send {\"notification_id\"}"})
		return
	}
	var d *payDelivery
	m.state.mu.Lock()
	for _, cand := range m.state.deliveries {
		if cand.ID == req.ID {
			d = cand
		}
	}
	m.state.mu.Unlock()
	if d == nil {
		mockJSON(w, http.StatusNotFound, map[string]string{"error": "not_found", "message": "no such notification"})
		return
	}
	a := m.attempt(d)
	mockJSON(w, http.StatusOK, map[string]any{"notification_id": d.ID, "notify_status": a.Status, "notify_error": a.Error})
}

// newUUID is a random version 4 UUID, the shape of WeChat Pay's
// notification ids.
func newUUID() string {
	h := hexID(16)
	b := []byte(h)
	b[12] = '4'
	b[16] = "89ab"[b[16]%4]
	return string(b[0:8]) + "-" + string(b[8:12]) + "-" + string(b[12:16]) + "-" + string(b[16:20]) + "-" + string(b[20:32])
}
