package mock

import (
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/caddy-wechat/caddy-wechat/internal/reply"
)

// The simulated WeChat Pay API: JSAPI prepay, query by out_trade_no or
// transaction_id, close, refund and refund query, the certificates, and
// trade bills with their unsigned download.

// chinaTime is the zone WeChat Pay writes its times in.
var chinaTime = time.FixedZone("CST", 8*60*60)

// outTradeNoPattern is WeChat Pay's rule for out_trade_no and
// out_refund_no: 6 to 32 letters, digits and _-|*.
var outTradeNoPattern = regexp.MustCompile(`^[0-9A-Za-z_\-|*]{6,32}$`)

// payOrder is one order, as WeChat Pay keeps it.
type payOrder struct {
	AppID         string
	MchID         string
	Description   string
	OutTradeNo    string
	NotifyURL     string
	Total         int64
	Currency      string
	OpenID        string
	Attach        string
	PrepayID      string
	TransactionID string
	State         string // NOTPAY, SUCCESS, CLOSED, REFUND
	SuccessTime   time.Time
	Refunded      int64
	request       []byte // the prepay body, so that a repeat can be told apart
}

// transaction is the order as the query API and TRANSACTION.* resources
// show it.
func (o *payOrder) transaction() map[string]any {
	t := map[string]any{
		"appid":            o.AppID,
		"mchid":            o.MchID,
		"out_trade_no":     o.OutTradeNo,
		"trade_state":      o.State,
		"trade_state_desc": map[string]string{"NOTPAY": "未支付", "SUCCESS": "支付成功", "CLOSED": "已关闭", "REFUND": "转入退款"}[o.State],
		"attach":           o.Attach,
		"payer":            map[string]string{"openid": o.OpenID},
		"amount":           map[string]any{"total": o.Total, "currency": o.Currency},
	}
	if o.TransactionID != "" {
		t["transaction_id"] = o.TransactionID
		t["trade_type"] = "JSAPI"
		t["bank_type"] = "OTHERS"
		t["success_time"] = o.SuccessTime.In(chinaTime).Format(time.RFC3339)
		t["amount"] = map[string]any{"total": o.Total, "payer_total": o.Total, "currency": o.Currency, "payer_currency": o.Currency}
	}
	return t
}

// payRefund is one refund.
type payRefund struct {
	MchID       string
	RefundID    string
	OutRefundNo string
	Order       *payOrder
	Refund      int64
	NotifyURL   string
	Status      string // PROCESSING, SUCCESS
	Created     time.Time
	SuccessTime time.Time
}

func (f *payRefund) view() map[string]any {
	v := map[string]any{
		"refund_id":             f.RefundID,
		"out_refund_no":         f.OutRefundNo,
		"transaction_id":        f.Order.TransactionID,
		"out_trade_no":          f.Order.OutTradeNo,
		"channel":               "ORIGINAL",
		"user_received_account": "支付用户零钱",
		"create_time":           f.Created.In(chinaTime).Format(time.RFC3339),
		"status":                f.Status,
		"amount":                map[string]any{"total": f.Order.Total, "refund": f.Refund, "payer_total": f.Order.Total, "payer_refund": f.Refund, "currency": f.Order.Currency},
	}
	if f.Status == "SUCCESS" {
		v["success_time"] = f.SuccessTime.In(chinaTime).Format(time.RFC3339)
	}
	return v
}

// resource is the refund as a REFUND.* notification carries it.
func (f *payRefund) resource() map[string]any {
	return map[string]any{
		"mchid":                 f.MchID,
		"out_trade_no":          f.Order.OutTradeNo,
		"transaction_id":        f.Order.TransactionID,
		"out_refund_no":         f.OutRefundNo,
		"refund_id":             f.RefundID,
		"refund_status":         f.Status,
		"success_time":          f.SuccessTime.In(chinaTime).Format(time.RFC3339),
		"user_received_account": "支付用户零钱",
		"amount":                map[string]any{"total": f.Order.Total, "refund": f.Refund, "payer_total": f.Order.Total, "payer_refund": f.Refund},
	}
}

// route dispatches a verified request.
func (m *PayMock) route(c *payCall) {
	r := c.r
	seg := strings.Split(strings.TrimPrefix(r.URL.Path, "/v3/"), "/")
	at := func(method string, parts ...string) bool {
		if r.Method != method || len(seg) != len(parts) {
			return false
		}
		for i, p := range parts {
			if (p == "*" && seg[i] == "") || (p != "*" && p != seg[i]) {
				return false
			}
		}
		return true
	}
	switch {
	case at(http.MethodPost, "pay", "transactions", "jsapi"):
		m.prepay(c)
	case at(http.MethodGet, "pay", "transactions", "out-trade-no", "*"):
		m.query(c, func(s *payState) *payOrder { return s.orders[c.mchid+"\x00"+seg[3]] })
	case at(http.MethodGet, "pay", "transactions", "id", "*"):
		m.query(c, func(s *payState) *payOrder { return s.byTxn[c.mchid+"\x00"+seg[3]] })
	case at(http.MethodPost, "pay", "transactions", "out-trade-no", "*", "close"):
		m.closeOrder(c, seg[3])
	case at(http.MethodPost, "refund", "domestic", "refunds"):
		m.refund(c)
	case at(http.MethodGet, "refund", "domestic", "refunds", "*"):
		m.state.mu.Lock()
		f := m.state.refunds[c.mchid+"\x00"+seg[3]]
		var v map[string]any
		if f != nil {
			v = f.view()
		}
		m.state.mu.Unlock()
		if f == nil {
			c.fail(http.StatusNotFound, "RESOURCE_NOT_EXISTS", "退款单不存在")
			return
		}
		c.answer(http.StatusOK, v)
	case at(http.MethodGet, "certificates"):
		body, err := m.app.SealCertificates(c.mchid, []*x509.Certificate{m.cert})
		if err != nil {
			c.fail(http.StatusInternalServerError, "SYSTEM_ERROR", "the simulator could not seal its certificate")
			return
		}
		// Signed by the certificate it carries: a merchant that holds no
		// key yet can check it with that certificate.
		c.signed(http.StatusOK, "application/json; charset=utf-8", body, m.serial)
	case at(http.MethodGet, "bill", "tradebill"):
		m.tradeBill(c)
	case at(http.MethodGet, "billdownload", "file"):
		m.state.mu.Lock()
		file, ok := m.state.bills[r.URL.Query().Get("token")]
		m.state.mu.Unlock()
		if !ok {
			c.fail(http.StatusBadRequest, "INVALID_REQUEST", "下载链接已失效 (unknown or expired token)")
			return
		}
		// The file itself is not signed: that is WeChat Pay's rule, and
		// the reason the bill answer carries its hash.
		c.w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		c.w.Header().Set("Request-ID", newRequestID())
		c.w.WriteHeader(http.StatusOK)
		_, _ = c.w.Write(file)
	default:
		c.fail(http.StatusNotFound, "NOT_FOUND", "the simulator does not serve "+r.Method+" "+r.URL.Path)
	}
}

// prepay is POST /v3/pay/transactions/jsapi.
func (m *PayMock) prepay(c *payCall) {
	var req struct {
		AppID       string `json:"appid"`
		MchID       string `json:"mchid"`
		Description string `json:"description"`
		OutTradeNo  string `json:"out_trade_no"`
		NotifyURL   string `json:"notify_url"`
		Attach      string `json:"attach"`
		Amount      struct {
			Total    *int64 `json:"total"`
			Currency string `json:"currency"`
		} `json:"amount"`
		Payer struct {
			OpenID string `json:"openid"`
		} `json:"payer"`
	}
	if err := reply.DecodeJSON(c.body, &req); err != nil {
		c.fail(http.StatusBadRequest, "PARAM_ERROR", "请求体不是合法的 JSON (the body is not valid JSON, or repeats a field)")
		return
	}
	for _, need := range []struct{ name, value string }{
		{"appid", req.AppID}, {"mchid", req.MchID}, {"description", req.Description},
		{"out_trade_no", req.OutTradeNo}, {"notify_url", req.NotifyURL}, {"payer.openid", req.Payer.OpenID},
	} {
		if need.value == "" {
			c.fail(http.StatusBadRequest, "PARAM_ERROR", "缺少参数 "+need.name+" (missing "+need.name+")")
			return
		}
	}
	switch {
	case req.MchID != c.mchid:
		c.fail(http.StatusBadRequest, "MCH_NOT_EXISTS", "mchid in the body is not the signing merchant")
		return
	case !outTradeNoPattern.MatchString(req.OutTradeNo):
		c.fail(http.StatusBadRequest, "PARAM_ERROR", "out_trade_no must be 6 to 32 letters, digits and _-|*")
		return
	case req.Amount.Total == nil || *req.Amount.Total <= 0:
		c.fail(http.StatusBadRequest, "PARAM_ERROR", "amount.total must be a positive number of fen")
		return
	case !strings.HasPrefix(req.NotifyURL, "https://") && !strings.HasPrefix(req.NotifyURL, "http://"):
		c.fail(http.StatusBadRequest, "PARAM_ERROR", "notify_url must be an absolute URL")
		return
	}
	if ids := m.app.AppIDs(c.mchid); len(ids) > 0 && !slices.Contains(ids, req.AppID) {
		c.fail(http.StatusBadRequest, "APPID_MCHID_NOT_MATCH", "appid 和 mch_id 不匹配 (the appid is not bound to this merchant)")
		return
	}
	if req.Amount.Currency == "" {
		req.Amount.Currency = "CNY"
	}
	s := m.state
	s.mu.Lock()
	key := c.mchid + "\x00" + req.OutTradeNo
	o := s.orders[key]
	switch {
	case o != nil && o.State == "SUCCESS", o != nil && o.State == "REFUND":
		s.mu.Unlock()
		c.fail(http.StatusBadRequest, "ORDERPAID", "该订单已支付 (the order is paid)")
		return
	case o != nil && o.State == "CLOSED":
		s.mu.Unlock()
		c.fail(http.StatusBadRequest, "ORDERCLOSED", "该订单已关闭 (the order is closed)")
		return
	case o != nil && !bytes.Equal(o.request, c.body):
		s.mu.Unlock()
		c.fail(http.StatusBadRequest, "INVALID_REQUEST", "201 商户订单号重复 (out_trade_no reused with other parameters)")
		return
	case o == nil:
		o = &payOrder{
			AppID: req.AppID, MchID: req.MchID, Description: req.Description, OutTradeNo: req.OutTradeNo,
			NotifyURL: req.NotifyURL, Total: *req.Amount.Total, Currency: req.Amount.Currency,
			OpenID: req.Payer.OpenID, Attach: req.Attach, PrepayID: newPrepayID(), State: "NOTPAY",
			request: bytes.Clone(c.body),
		}
		s.orders[key] = o
		s.byPrepay[o.PrepayID] = o
	}
	prepayID := o.PrepayID
	s.mu.Unlock()
	c.answer(http.StatusOK, map[string]string{"prepay_id": prepayID})
}

func (m *PayMock) query(c *payCall, find func(*payState) *payOrder) {
	if c.r.URL.Query().Get("mchid") != c.mchid {
		c.fail(http.StatusBadRequest, "PARAM_ERROR", "缺少参数 mchid, or it is not the signing merchant")
		return
	}
	m.state.mu.Lock()
	o := find(m.state)
	var t map[string]any
	if o != nil {
		t = o.transaction()
	}
	m.state.mu.Unlock()
	if o == nil {
		c.fail(http.StatusNotFound, "ORDER_NOT_EXIST", "订单不存在")
		return
	}
	c.answer(http.StatusOK, t)
}

func (m *PayMock) closeOrder(c *payCall, outTradeNo string) {
	var req struct {
		MchID string `json:"mchid"`
	}
	if reply.DecodeJSON(c.body, &req) != nil || req.MchID != c.mchid {
		c.fail(http.StatusBadRequest, "PARAM_ERROR", "the body must be {\"mchid\"} of the signing merchant")
		return
	}
	s := m.state
	s.mu.Lock()
	o := s.orders[c.mchid+"\x00"+outTradeNo]
	state := ""
	if o != nil {
		state = o.State
		if state == "NOTPAY" {
			o.State = "CLOSED"
		}
	}
	s.mu.Unlock()
	switch state {
	case "":
		c.fail(http.StatusNotFound, "ORDER_NOT_EXIST", "订单不存在")
	case "SUCCESS", "REFUND":
		c.fail(http.StatusBadRequest, "ORDERPAID", "该订单已支付 (the order is paid)")
	default:
		c.answer(http.StatusNoContent, nil)
	}
}

// refund is POST /v3/refund/domestic/refunds. The refund succeeds at
// once, in the background, and REFUND.SUCCESS goes to its notify_url.
func (m *PayMock) refund(c *payCall) {
	var req struct {
		TransactionID string `json:"transaction_id"`
		OutTradeNo    string `json:"out_trade_no"`
		OutRefundNo   string `json:"out_refund_no"`
		NotifyURL     string `json:"notify_url"`
		Amount        struct {
			Refund   *int64 `json:"refund"`
			Total    *int64 `json:"total"`
			Currency string `json:"currency"`
		} `json:"amount"`
	}
	if err := reply.DecodeJSON(c.body, &req); err != nil {
		c.fail(http.StatusBadRequest, "PARAM_ERROR", "请求体不是合法的 JSON (the body is not valid JSON, or repeats a field)")
		return
	}
	switch {
	case !outTradeNoPattern.MatchString(req.OutRefundNo):
		c.fail(http.StatusBadRequest, "PARAM_ERROR", "out_refund_no must be 6 to 32 letters, digits and _-|*")
		return
	case req.Amount.Refund == nil || req.Amount.Total == nil || *req.Amount.Refund <= 0:
		c.fail(http.StatusBadRequest, "PARAM_ERROR", "amount.refund and amount.total are required, in fen")
		return
	}
	s := m.state
	s.mu.Lock()
	var o *payOrder
	if req.TransactionID != "" {
		o = s.byTxn[c.mchid+"\x00"+req.TransactionID]
	} else {
		o = s.orders[c.mchid+"\x00"+req.OutTradeNo]
	}
	fail := func(status int, code, msg string) {
		s.mu.Unlock()
		c.fail(status, code, msg)
	}
	switch {
	case o == nil:
		fail(http.StatusNotFound, "RESOURCE_NOT_EXISTS", "订单不存在")
		return
	case o.TransactionID == "":
		fail(http.StatusBadRequest, "INVALID_REQUEST", "订单未支付 (the order is not paid)")
		return
	case *req.Amount.Total != o.Total:
		fail(http.StatusBadRequest, "PARAM_ERROR", "amount.total is not the order's total")
		return
	}
	if f := s.refunds[c.mchid+"\x00"+req.OutRefundNo]; f != nil {
		// A repeated refund request answers the refund it made.
		v := f.view()
		s.mu.Unlock()
		c.answer(http.StatusOK, v)
		return
	}
	if o.Refunded+*req.Amount.Refund > o.Total {
		fail(http.StatusBadRequest, "NOT_ENOUGH", "退款金额超过订单可退金额 (more than is left to refund)")
		return
	}
	o.Refunded += *req.Amount.Refund
	o.State = "REFUND"
	f := &payRefund{MchID: c.mchid, RefundID: "50" + digits(30), OutRefundNo: req.OutRefundNo, Order: o, Refund: *req.Amount.Refund,
		NotifyURL: req.NotifyURL, Status: "PROCESSING", Created: time.Now()}
	s.refunds[c.mchid+"\x00"+f.OutRefundNo] = f
	v := f.view()
	s.mu.Unlock()
	c.answer(http.StatusOK, v)

	s.running.Add(1)
	go func() {
		defer s.running.Done()
		s.mu.Lock()
		f.Status, f.SuccessTime = "SUCCESS", time.Now()
		res := f.resource()
		s.mu.Unlock()
		if f.NotifyURL != "" {
			m.notify(c.mchid, f.NotifyURL, "REFUND.SUCCESS", "退款成功", "refund", res, o.OutTradeNo, f.OutRefundNo, false)
		}
	}()
}

// tradeBill is GET /v3/bill/tradebill: a bill of the merchant's paid
// orders, whose file is downloaded unsigned and checked by its hash.
func (m *PayMock) tradeBill(c *payCall) {
	date := c.r.URL.Query().Get("bill_date")
	if _, err := time.Parse("2006-01-02", date); err != nil {
		c.fail(http.StatusBadRequest, "PARAM_ERROR", "bill_date must be YYYY-MM-DD")
		return
	}
	var b bytes.Buffer
	b.WriteString("交易时间,公众账号ID,商户号,微信订单号,商户订单号,用户标识,交易类型,交易状态,订单金额\r\n")
	s := m.state
	s.mu.Lock()
	for _, o := range s.orders {
		if o.MchID == c.mchid && o.TransactionID != "" {
			fmt.Fprintf(&b, "`%s,`%s,`%s,`%s,`%s,`%s,`JSAPI,`%s,`%d.%02d\r\n", o.SuccessTime.In(chinaTime).Format("2006-01-02 15:04:05"),
				o.AppID, o.MchID, o.TransactionID, o.OutTradeNo, o.OpenID, o.State, o.Total/100, o.Total%100)
		}
	}
	token := digits(24)
	file := b.Bytes()
	s.bills[token] = file
	s.mu.Unlock()
	sum := sha1.Sum(file)
	scheme := "http"
	if c.r.TLS != nil {
		scheme = "https"
	}
	c.answer(http.StatusOK, map[string]string{
		"hash_type":    "SHA1",
		"hash_value":   hex.EncodeToString(sum[:]),
		"download_url": scheme + "://" + c.r.Host + "/v3/billdownload/file?token=" + token,
	})
}

func newPrepayID() string {
	return "wx" + time.Now().In(chinaTime).Format("02150405") + strings.ToLower(digits(8)) + hexID(10)
}

func newRequestID() string { return hexID(16) }

func hexID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// digits is n random decimal digits.
func digits(n int) string {
	var b strings.Builder
	for range n {
		d, _ := rand.Int(rand.Reader, big.NewInt(10))
		b.WriteByte(byte('0' + d.Int64()))
	}
	return b.String()
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// mockJSON writes the simulator's own JSON (its /mock/ routes, and the
// errors it cannot sign).
func mockJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
