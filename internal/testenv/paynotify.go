package testenv

import (
	"bytes"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Notification is a WeChat Pay notification the tests build themselves,
// with crypto/rsa and crypto/cipher alone.
type Notification struct {
	ID        string
	EventType string
	// Resource is the event (a transaction or a refund), sealed under
	// APIv3Key with associated data AAD.
	Resource map[string]any
	APIv3Key string
	AAD      string
	// Key and Serial sign it; Timestamp is unix seconds (0: now).
	Key       *rsa.PrivateKey
	Serial    string
	Timestamp int64
}

// Transaction is a TRANSACTION.SUCCESS resource for out_trade_no.
func Transaction(outTradeNo string, total int64, attach string) map[string]any {
	return map[string]any{
		"mchid": PayMchID, "appid": AppID, "out_trade_no": outTradeNo, "transaction_id": "4200000000000000000000000001",
		"trade_type": "JSAPI", "trade_state": "SUCCESS", "trade_state_desc": "支付成功", "bank_type": "OTHERS", "attach": attach,
		"success_time": "2026-12-01T10:00:00+08:00", "payer": map[string]string{"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
		"amount": map[string]any{"total": total, "payer_total": total, "currency": "CNY", "payer_currency": "CNY"},
	}
}

// NewTransactionNotification is a signed TRANSACTION.SUCCESS under
// WeChat's public key, sealed under the tests' APIv3 key.
func NewTransactionNotification(t testing.TB, id, outTradeNo string) *Notification {
	return &Notification{ID: id, EventType: "TRANSACTION.SUCCESS", Resource: Transaction(outTradeNo, 100, "attach-"+outTradeNo),
		APIv3Key: PayAPIv3Key, AAD: "transaction", Key: Keys(t).WeChat, Serial: PayPubKeyID}
}

// Body is the notification's JSON body, as WeChat Pay writes it.
func (n *Notification) Body(t testing.TB) []byte {
	t.Helper()
	plain, err := json.Marshal(n.Resource)
	if err != nil {
		t.Fatal(err)
	}
	originalType := strings.ToLower(strings.SplitN(n.EventType, ".", 2)[0])
	body, err := json.Marshal(map[string]any{
		"id": n.ID, "create_time": "2026-12-01T10:00:01+08:00", "resource_type": "encrypt-resource",
		"event_type": n.EventType, "summary": "支付成功",
		"resource": SealResource([]byte(n.APIv3Key), plain, n.AAD, originalType),
	})
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// Plaintext is the resource as the backend must receive it.
func (n *Notification) Plaintext(t testing.TB) []byte {
	t.Helper()
	b, err := json.Marshal(n.Resource)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Sign returns the headers that sign body.
func (n *Notification) Sign(body []byte) http.Header {
	h := http.Header{"Content-Type": {"application/json"}}
	ts := n.Timestamp
	if ts == 0 {
		ts = time.Now().Unix()
	}
	SignPayHeaders(h, n.Key, n.Serial, ts, RandomNonce(), body)
	return h
}

// PostNotification sends body with hdr to url and returns the status and
// the JSON answer (nil for none).
func PostNotification(t testing.TB, c *http.Client, url string, hdr http.Header, body []byte) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("POST %s: %d, body is not JSON: %q", url, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, out
}

// NotifyBackend is the shop's backend for notifications: it records every
// request and answers with the status Answer gives for the n-th call
// (1-based; default 200), after Delay.
type NotifyBackend struct {
	*httptest.Server
	mu     sync.Mutex
	calls  []NotifyCall
	answer func(n int) int
	delay  time.Duration
}

// NotifyCall is one request the backend received.
type NotifyCall struct {
	Method  string
	Header  http.Header
	Trailer http.Header
	Body    []byte
}

// NewNotifyBackend starts the backend.
func NewNotifyBackend(t *testing.T) *NotifyBackend {
	b := &NotifyBackend{}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		b.mu.Lock()
		b.calls = append(b.calls, NotifyCall{Method: r.Method, Header: r.Header.Clone(), Trailer: r.Trailer.Clone(), Body: body})
		n, answer, delay := len(b.calls), b.answer, b.delay
		b.mu.Unlock()
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		status := http.StatusOK
		if answer != nil {
			status = answer(n)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"backend":"seen"}`))
	}))
	t.Cleanup(b.Close)
	return b
}

// Answer sets the status of each call by its number.
func (b *NotifyBackend) Answer(fn func(n int) int) {
	b.mu.Lock()
	b.answer = fn
	b.mu.Unlock()
}

// Delay makes every call wait d before it answers.
func (b *NotifyBackend) Delay(d time.Duration) {
	b.mu.Lock()
	b.delay = d
	b.mu.Unlock()
}

// Calls returns the requests so far.
func (b *NotifyBackend) Calls() []NotifyCall {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]NotifyCall(nil), b.calls...)
}

// WaitCalls waits up to 5 s for at least n calls and returns them.
func (b *NotifyBackend) WaitCalls(t testing.TB, n int) []NotifyCall {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		calls := b.Calls()
		if len(calls) >= n || time.Now().After(deadline) {
			if len(calls) < n {
				t.Fatalf("the backend got %d notifications, want %d", len(calls), n)
			}
			return calls
		}
		time.Sleep(10 * time.Millisecond)
	}
}
