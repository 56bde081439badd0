package main

// A minimal shop on top of caddy-wechat's WeChat Pay: no payment SDK, no
// merchant key, no crypto.
//
//   POST /api/pay/order {"description", "total"}   (behind wechat_auth)
//       makes an order for X-Openid and asks the edge's internal
//       wechatpay_api for a JSAPI prepay; answers {"out_trade_no",
//       "request_payment"}, which the Mini Program passes to
//       wx.requestPayment as it is.
//   GET /api/pay/order/<out_trade_no>              (behind wechat_auth)
//       the order, for its owner only.
//   POST /pay/notify                                (behind wechatpay_notify)
//       a verified, decrypted notification. The edge has checked the
//       signature; the shop still checks that the payment is for an order
//       it made, for the amount it asked, as WeChat Pay's documentation
//       tells every merchant to.

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"strings"
	"sync"
	"time"
)

// order is one order of the shop.
type order struct {
	OutTradeNo    string `json:"out_trade_no"`
	OpenID        string `json:"openid"`
	Description   string `json:"description"`
	Total         int64  `json:"total"`
	State         string `json:"state"` // created, paid, refunded
	TransactionID string `json:"transaction_id,omitempty"`
	Notifications int    `json:"notifications"` // how many payment notifications reached the shop
	Refunds       int    `json:"refunds"`
}

// shop holds the orders in memory.
type shop struct {
	payAPI string // the edge's internal wechatpay_api origin
	client *http.Client
	mu     sync.Mutex
	orders map[string]*order
}

func newShop(payAPI string) *shop {
	return &shop{payAPI: strings.TrimRight(payAPI, "/"), client: &http.Client{Timeout: 15 * time.Second}, orders: map[string]*order{}}
}

// handler serves the shop's routes and passes everything else to next.
func (s *shop) handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/api/pay/order" && r.Method == http.MethodPost:
			s.create(w, r)
		case strings.HasPrefix(r.URL.Path, "/api/pay/order/") && r.Method == http.MethodGet:
			s.show(w, r, strings.TrimPrefix(r.URL.Path, "/api/pay/order/"))
		case r.URL.Path == "/pay/notify" && r.Method == http.MethodPost:
			s.notified(w, r)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

func (s *shop) create(w http.ResponseWriter, r *http.Request) {
	openid := r.Header.Get("X-Openid")
	if openid == "" {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthorized"})
		return
	}
	var req struct {
		Description string `json:"description"`
		Total       int64  `json:"total"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&req); err != nil || req.Total <= 0 || req.Total > 100000 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "message": `send {"description","total"}, total in fen, 1 to 100000`})
		return
	}
	if req.Description == "" {
		req.Description = "caddy-wechat demo"
	}
	o := &order{OutTradeNo: newOutTradeNo(), OpenID: openid, Description: req.Description, Total: req.Total, State: "created"}
	// What WeChat Pay's JSAPI prepay takes, minus what the edge fills in:
	// mchid, appid, notify_url and the signature.
	body, _ := json.Marshal(map[string]any{
		"description":  o.Description,
		"out_trade_no": o.OutTradeNo,
		"amount":       map[string]any{"total": o.Total, "currency": "CNY"},
		"payer":        map[string]string{"openid": openid},
	})
	resp, err := s.client.Post(s.payAPI+"/v3/pay/transactions/jsapi", "application/json", bytes.NewReader(body))
	if err != nil {
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": "pay_unavailable", "message": "the edge's wechatpay_api did not answer"})
		return
	}
	defer resp.Body.Close()
	var ans struct {
		RequestPayment json.RawMessage `json:"request_payment"`
		Code           string          `json:"code"`
		Error          string          `json:"error"`
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &ans) != nil || len(ans.RequestPayment) == 0 {
		log.Printf("pay: prepay of %s failed: HTTP %d %s%s", o.OutTradeNo, resp.StatusCode, ans.Code, ans.Error)
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": "prepay_failed", "message": fmt.Sprintf("WeChat Pay answered %d %s%s", resp.StatusCode, ans.Code, ans.Error)})
		return
	}
	s.mu.Lock()
	s.orders[o.OutTradeNo] = o
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"out_trade_no": o.OutTradeNo, "total": o.Total, "request_payment": ans.RequestPayment})
}

func (s *shop) show(w http.ResponseWriter, r *http.Request, outTradeNo string) {
	s.mu.Lock()
	o, ok := s.orders[outTradeNo]
	var view order
	if ok {
		view = *o
	}
	s.mu.Unlock()
	if !ok || view.OpenID != r.Header.Get("X-Openid") || view.OpenID == "" {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not_found"})
		return
	}
	writeJSON(w, http.StatusOK, view)
}

// notified takes a notification from wechatpay_notify. A 2xx tells the
// edge to acknowledge it to WeChat Pay; anything else makes WeChat Pay
// send it again later.
func (s *shop) notified(w http.ResponseWriter, r *http.Request) {
	// Set by the edge, which strips any copy a client sends. It proves
	// something only because this backend is reachable through the edge
	// alone (it listens on loopback).
	if r.Header.Get("X-Wechatpay-Verified") != "1" {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "unverified"})
		return
	}
	var res struct {
		MchID         string `json:"mchid"`
		OutTradeNo    string `json:"out_trade_no"`
		TransactionID string `json:"transaction_id"`
		TradeState    string `json:"trade_state"`
		RefundStatus  string `json:"refund_status"`
		Payer         struct {
			OpenID string `json:"openid"`
		} `json:"payer"`
		Amount struct {
			Total int64 `json:"total"`
		} `json:"amount"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&res); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	event := r.Header.Get("X-Wechatpay-Event-Type")
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[res.OutTradeNo]
	switch {
	case !ok:
		log.Printf("pay: notification %s for an order this shop did not make: %q", r.Header.Get("X-Wechatpay-Event-Id"), res.OutTradeNo)
		writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"error": "unknown_order"})
	case strings.HasPrefix(event, "TRANSACTION."):
		// The checks the edge cannot make: this order, this amount, this
		// payer.
		if res.Amount.Total != o.Total || res.Payer.OpenID != o.OpenID {
			log.Printf("pay: notification for %s does not match the order (total %d, want %d)", o.OutTradeNo, res.Amount.Total, o.Total)
			writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"error": "mismatch"})
			return
		}
		o.Notifications++
		if res.TradeState == "SUCCESS" && o.State == "created" {
			o.State, o.TransactionID = "paid", res.TransactionID
		}
		writeJSON(w, http.StatusOK, map[string]string{"ok": o.State})
	case strings.HasPrefix(event, "REFUND."):
		o.Refunds++
		if res.RefundStatus == "SUCCESS" {
			o.State = "refunded"
		}
		writeJSON(w, http.StatusOK, map[string]string{"ok": o.State})
	default:
		writeJSON(w, http.StatusOK, map[string]string{"ignored": event})
	}
}

func newOutTradeNo() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "DEMO" + time.Now().Format("20060102150405") + hex.EncodeToString(b)[:8]
}
