package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/caddy-wechat/caddy-wechat/internal/testenv"
)

// notify posts a signed notification to the notify route.
func notify(t *testing.T, hdr http.Header, body []byte) (int, map[string]any) {
	t.Helper()
	return PostNotification(t, NewClient(), NotifyURL(), hdr, body)
}

// uniqueID is a notification id no earlier run of the test binary has
// used: the memory store outlives each test's config.
func uniqueID(prefix string) string {
	return prefix + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
}

// checkForwarded checks one backend call against the notification: the
// decrypted resource as the body, the four headers with our values and no
// other spelling of them, and nothing of the signature.
func checkForwarded(t *testing.T, call NotifyCall, n *Notification) {
	t.Helper()
	if call.Method != "POST" || !bytes.Equal(call.Body, n.Plaintext(t)) {
		t.Fatalf("backend got %s %s, want the decrypted resource %s", call.Method, call.Body, n.Plaintext(t))
	}
	want := map[string]string{
		"X-Wechatpay-Event-Type":    n.EventType,
		"X-Wechatpay-Event-Id":      n.ID,
		"X-Wechatpay-Resource-Type": "encrypt-resource",
		"X-Wechatpay-Verified":      "1",
	}
	for name, vs := range call.Header {
		if !IsTrustedName(name) {
			continue
		}
		if v, ok := want[name]; !ok || len(vs) != 1 || vs[0] != v {
			t.Errorf("backend got %s: %q (a forged spelling, or not our value)", name, vs)
		}
	}
	for name, v := range want {
		if call.Header.Get(name) != v {
			t.Errorf("backend got %s %q, want %q", name, call.Header.Get(name), v)
		}
	}
	for _, k := range []string{"Wechatpay-Signature", "Wechatpay-Serial", "Wechatpay-Timestamp", "Wechatpay-Nonce"} {
		if call.Header.Get(k) != "" {
			t.Errorf("backend got %s: the signature covered the envelope, not this body", k)
		}
	}
	if ct := call.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("backend got Content-Type %q", ct)
	}
	if len(call.Trailer) != 0 {
		t.Errorf("backend got trailers %v", call.Trailer)
	}
}

// TestPayNotifyForwards: a signed notification is verified, decrypted and
// passed to the backend as a POST of the resource, with the four
// X-Wechatpay-* headers; client-sent copies of them, in every spelling,
// in headers, Connection tokens and trailers, are gone first. WeChat Pay
// gets 204. A refund notification works the same way.
func TestPayNotifyForwards(t *testing.T) {
	backend := NewNotifyBackend(t)
	StartCaddy(t, PayConfig(PaySetup{APIBase: NewFakePay(t).URL, Files: WritePayFiles(t), Backend: backend.URL}))

	n := NewTransactionNotification(t, uniqueID("forward-1"), "ORDER0001")
	body := n.Body(t)
	hdr := n.Sign(body)
	for k, v := range map[string]string{
		"X-Wechatpay-Verified":      "forged",
		"X-WECHATPAY-EVENT-TYPE":    "REFUND.FORGED",
		"X_Wechatpay_Event_Id":      "forged-id",
		"X.Wechatpay.Verified":      "forged",
		"X_Wechatpay_Resource_Type": "forged",
	} {
		hdr[k] = []string{v} // raw keys: the odd spellings as sent
	}
	if st, ans := notify(t, hdr, body); st != 204 || ans != nil {
		t.Fatalf("notification: %d %v, want 204 and no body", st, ans)
	}
	calls := backend.WaitCalls(t, 1)
	checkForwarded(t, calls[0], n)

	// Connection naming our headers (reverse_proxy would delete them
	// after we set them) and a trailer that forges one.
	n2 := NewTransactionNotification(t, uniqueID("forward-2"), "ORDER0002")
	body2 := n2.Body(t)
	var raw strings.Builder
	fmt.Fprintf(&raw, "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n", PayNotifyPath, PayNotifyPort)
	for k, vs := range n2.Sign(body2) {
		fmt.Fprintf(&raw, "%s: %s\r\n", k, vs[0])
	}
	fmt.Fprintf(&raw, "Connection: keep-alive, X-Wechatpay-Verified, x_wechatpay_event_id\r\nTrailer: X-Wechatpay-Event-Type\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\nX-Wechatpay-Event-Type: FORGED\r\nX-Wechatpay-Verified: forged\r\n\r\n", len(body2), body2)
	if st, text := RawRequest(t, PayNotifyPort, raw.String()); st != 204 {
		t.Fatalf("chunked notification with forged trailers: %d %s", st, text)
	}
	calls = backend.WaitCalls(t, 2)
	checkForwarded(t, calls[1], n2)

	// A refund.
	r := &Notification{ID: uniqueID("refund-1"), EventType: "REFUND.SUCCESS", APIv3Key: PayAPIv3Key, AAD: "refund", Key: Keys(t).WeChat, Serial: PayPubKeyID,
		Resource: map[string]any{"mchid": PayMchID, "out_trade_no": "ORDER0001", "out_refund_no": "REFUND0001", "refund_status": "SUCCESS", "amount": map[string]any{"total": 100, "refund": 100}}}
	rb := r.Body(t)
	if st, ans := notify(t, r.Sign(rb), rb); st != 204 {
		t.Fatalf("refund notification: %d %v", st, ans)
	}
	calls = backend.WaitCalls(t, 3)
	checkForwarded(t, calls[2], r)
}

// TestPayNotifyRefusesForgeries: nothing that is not a notification of
// this merchant, signed by WeChat Pay within 5 minutes over these very
// bytes, reaches the backend: 401 for a failed signature (tampered,
// re-serialised, unknown or wrong serial, another key, stale either way,
// missing or repeated headers), 400 for a signed body that does not open
// (another APIv3 key, altered associated data, not a notification).
func TestPayNotifyRefusesForgeries(t *testing.T) {
	backend := NewNotifyBackend(t)
	StartCaddy(t, PayConfig(PaySetup{APIBase: NewFakePay(t).URL, Files: WritePayFiles(t), Backend: backend.URL}))
	k := Keys(t)

	fresh := func(id string) (*Notification, []byte) {
		n := NewTransactionNotification(t, id, "ORDER0009")
		return n, n.Body(t)
	}
	type forged struct {
		name   string
		make   func() (http.Header, []byte)
		status int
		code   string
	}
	cases := []forged{
		{"tampered body", func() (http.Header, []byte) {
			n, b := fresh("forge-1")
			h := n.Sign(b)
			return h, bytes.Replace(b, []byte(`"forge-1"`), []byte(`"forge-X"`), 1)
		}, 401, "invalid_signature"},
		{"re-serialised body", func() (http.Header, []byte) {
			n, b := fresh("forge-2")
			h := n.Sign(b)
			var v any
			_ = json.Unmarshal(b, &v)
			re, _ := json.MarshalIndent(v, "", " ")
			return h, re
		}, 401, "invalid_signature"},
		{"one space more", func() (http.Header, []byte) {
			n, b := fresh("forge-3")
			return n.Sign(b), append(b, ' ')
		}, 401, "invalid_signature"},
		{"unknown serial", func() (http.Header, []byte) {
			n, b := fresh("forge-4")
			n.Serial = "PUB_KEY_ID_0199999999999999999999999999999999"
			return n.Sign(b), b
		}, 401, "invalid_signature"},
		{"a certificate serial this merchant does not use", func() (http.Header, []byte) {
			n, b := fresh("forge-5")
			n.Serial = k.CertSerial
			return n.Sign(b), b
		}, 401, "invalid_signature"},
		{"signed by another key", func() (http.Header, []byte) {
			n, b := fresh("forge-6")
			n.Key = k.Other
			return n.Sign(b), b
		}, 401, "invalid_signature"},
		{"stale timestamp", func() (http.Header, []byte) {
			n, b := fresh("forge-7")
			n.Timestamp = time.Now().Add(-5*time.Minute - time.Second).Unix()
			return n.Sign(b), b
		}, 401, "invalid_signature"},
		{"timestamp from the future", func() (http.Header, []byte) {
			n, b := fresh("forge-8")
			// Unix() truncates up to a second away, and the request takes
			// time to arrive: 10 s past the skew stays past it on a loaded
			// machine (with 1 s it was accepted once in CI).
			n.Timestamp = time.Now().Add(5*time.Minute + 10*time.Second).Unix()
			return n.Sign(b), b
		}, 401, "invalid_signature"},
		{"no signature", func() (http.Header, []byte) {
			n, b := fresh("forge-9")
			h := n.Sign(b)
			h.Del("Wechatpay-Signature")
			return h, b
		}, 401, "invalid_signature"},
		{"two serials", func() (http.Header, []byte) {
			n, b := fresh("forge-10")
			h := n.Sign(b)
			h.Add("Wechatpay-Serial", PayPubKeyID)
			return h, b
		}, 401, "invalid_signature"},
		{"unsigned", func() (http.Header, []byte) {
			_, b := fresh("forge-11")
			return http.Header{"Content-Type": {"application/json"}}, b
		}, 401, "invalid_signature"},
		{"encrypted under another APIv3 key", func() (http.Header, []byte) {
			n, _ := fresh("forge-12")
			n.APIv3Key = PayOtherAPIv3Key
			b := n.Body(t)
			return n.Sign(b), b
		}, 400, "invalid_notification"},
		{"associated data altered", func() (http.Header, []byte) {
			n, b := fresh("forge-13")
			b = bytes.Replace(b, []byte(`"associated_data":"transaction"`), []byte(`"associated_data":"refund"`), 1)
			return n.Sign(b), b
		}, 400, "invalid_notification"},
		{"signed, but not a notification", func() (http.Header, []byte) {
			n, _ := fresh("forge-14")
			b := []byte(`{"hello":"world"}`)
			return n.Sign(b), b
		}, 400, "invalid_notification"},
	}
	for _, c := range cases {
		h, b := c.make()
		st, ans := notify(t, h, b)
		if st != c.status || ans["code"] != "FAIL" || ans["error"] != c.code || ans["message"] == "" {
			t.Errorf("%s: %d %v, want %d {code: FAIL, error: %s}", c.name, st, ans, c.status, c.code)
		}
	}
	if st, ans := PostNotification(t, NewClient(), NotifyURL(), nil, bytes.Repeat([]byte("x"), 65<<10)); st != 413 || ans["code"] != "FAIL" {
		t.Errorf("over 64 KiB: %d %v", st, ans)
	}
	st, _, _ := Do(t, NewClient(), "GET", NotifyURL(), nil, "")
	if st != 405 {
		t.Errorf("GET: %d", st)
	}
	time.Sleep(100 * time.Millisecond)
	if calls := backend.Calls(); len(calls) != 0 {
		t.Fatalf("a forgery reached the backend: %s", calls[0].Body)
	}
	// And the genuine one still goes through.
	n, b := fresh(uniqueID("forge-genuine"))
	if st, ans := notify(t, n.Sign(b), b); st != 204 {
		t.Fatalf("genuine: %d %v", st, ans)
	}
	backend.WaitCalls(t, 1)
}

// TestPayNotifyReplaySerially: a notification acknowledged once is
// acknowledged again, as it is or signed afresh (WeChat Pay's retry),
// without calling the backend again.
func TestPayNotifyReplaySerially(t *testing.T) {
	backend := NewNotifyBackend(t)
	StartCaddy(t, PayConfig(PaySetup{APIBase: NewFakePay(t).URL, Files: WritePayFiles(t), Backend: backend.URL}))

	n := NewTransactionNotification(t, uniqueID("replay-serial"), "ORDER0010")
	body := n.Body(t)
	hdr := n.Sign(body)
	for i := range 3 {
		if st, ans := notify(t, hdr, body); st != 204 {
			t.Fatalf("delivery %d: %d %v", i+1, st, ans)
		}
	}
	if st, ans := notify(t, n.Sign(body), body); st != 204 {
		t.Fatalf("re-signed retry: %d %v", st, ans)
	}
	// The same id sealed again (a new nonce, new ciphertext): still the
	// same notification.
	b2 := n.Body(t)
	if st, ans := notify(t, n.Sign(b2), b2); st != 204 {
		t.Fatalf("re-sealed retry: %d %v", st, ans)
	}
	time.Sleep(100 * time.Millisecond)
	if calls := backend.Calls(); len(calls) != 1 {
		t.Fatalf("the backend saw the notification %d times, want once", len(calls))
	}
	other := NewTransactionNotification(t, n.ID+"-other", "ORDER0011")
	ob := other.Body(t)
	if st, _ := notify(t, other.Sign(ob), ob); st != 204 {
		t.Fatal("another notification")
	}
	backend.WaitCalls(t, 2)
}

// TestPayNotifyReplayConcurrently: copies of one notification arriving
// at once reach the backend once; the others wait for its answer and are
// acknowledged with it. When that one call fails, one of the waiting
// copies takes over: the backend is called once more, never once per
// copy.
func TestPayNotifyReplayConcurrently(t *testing.T) {
	backend := NewNotifyBackend(t)
	backend.Delay(300 * time.Millisecond)
	StartCaddy(t, PayConfig(PaySetup{APIBase: NewFakePay(t).URL, Files: WritePayFiles(t), Backend: backend.URL}))

	send := func(n *Notification, copies int) map[int]int {
		body := n.Body(t)
		var wg sync.WaitGroup
		var mu sync.Mutex
		statuses := map[int]int{}
		for range copies {
			wg.Go(func() {
				st, _ := notify(t, n.Sign(body), body)
				mu.Lock()
				statuses[st]++
				mu.Unlock()
			})
		}
		wg.Wait()
		return statuses
	}

	id := uniqueID("replay-concurrent")
	if st := send(NewTransactionNotification(t, id, "ORDER0012"), 16); st[204] != 16 {
		t.Fatalf("16 copies at once: statuses %v, want 16 × 204", st)
	}
	if calls := backend.Calls(); len(calls) != 1 {
		t.Fatalf("the backend saw %d calls for 16 copies, want 1", len(calls))
	}

	// The first call fails: exactly one more call, and every copy is
	// answered (the failed one with 500, the rest with 204).
	backend.Answer(func(n int) int {
		if n == 2 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	st := send(NewTransactionNotification(t, id+"-b", "ORDER0013"), 8)
	if st[500] != 1 || st[204] != 7 {
		t.Fatalf("8 copies, first backend call failing: statuses %v, want 1 × 500 and 7 × 204", st)
	}
	if calls := backend.Calls(); len(calls) != 3 {
		t.Fatalf("the backend saw %d calls in all, want 3", len(calls))
	}
}

// TestPayNotifyBackendFailsThenSucceeds: a backend that does not answer
// 2xx, does not answer in time, or cannot be reached makes the edge
// answer 500 {"code":"FAIL"}, so that WeChat Pay retries, and the id is
// not marked seen: the retry is forwarded, and once the backend takes it,
// later retries are acknowledged without it.
func TestPayNotifyBackendFailsThenSucceeds(t *testing.T) {
	backend := NewNotifyBackend(t)
	backend.Answer(func(n int) int {
		switch n {
		case 1:
			return http.StatusInternalServerError
		case 2:
			return http.StatusFound
		case 3:
			return http.StatusBadRequest
		}
		return http.StatusNoContent
	})
	StartCaddy(t, PayConfig(PaySetup{APIBase: NewFakePay(t).URL, Files: WritePayFiles(t), Backend: backend.URL}))

	n := NewTransactionNotification(t, uniqueID("fail-then-succeed"), "ORDER0020")
	body := n.Body(t)
	for i, want := range []int{500, 500, 500, 204, 204, 204} {
		st, ans := notify(t, n.Sign(body), body)
		if st != want {
			t.Fatalf("delivery %d: %d %v, want %d", i+1, st, ans, want)
		}
		if want == 500 && (ans["code"] != "FAIL" || ans["message"] == "" || ans["error"] != "backend_failure") {
			t.Fatalf("delivery %d: %v, want {code: FAIL, message}", i+1, ans)
		}
	}
	if calls := backend.Calls(); len(calls) != 4 {
		t.Fatalf("the backend saw %d calls, want 4 (three failures, then the one it took)", len(calls))
	}

	// Too slow: the notify timeout (1s) answers 500; the retry, once the
	// backend is quick again, is forwarded.
	backend.Answer(nil)
	backend.Delay(3 * time.Second)
	slow := NewTransactionNotification(t, n.ID+"-slow", "ORDER0021")
	sb := slow.Body(t)
	start := time.Now()
	if st, ans := notify(t, slow.Sign(sb), sb); st != 500 || ans["code"] != "FAIL" {
		t.Fatalf("slow backend: %d %v", st, ans)
	}
	if d := time.Since(start); d > 2500*time.Millisecond {
		t.Fatalf("the slow backend held the answer %v, past the 1s timeout", d)
	}
	backend.Delay(0)
	if st, ans := notify(t, slow.Sign(sb), sb); st != 204 {
		t.Fatalf("retry after the timeout: %d %v", st, ans)
	}

	// No backend at all.
	down := NewTransactionNotification(t, n.ID+"-down", "ORDER0022")
	db := down.Body(t)
	StartCaddy(t, PayConfig(PaySetup{APIBase: NewFakePay(t).URL, Files: WritePayFiles(t), Backend: "127.0.0.1:1"}))
	if st, ans := notify(t, down.Sign(db), db); st != 500 || ans["code"] != "FAIL" {
		t.Fatalf("unreachable backend: %d %v", st, ans)
	}
	// A route with nothing after wechatpay_notify: not acknowledged, since
	// nobody took the notification.
	bare := strings.Replace(NotifyURL(), PayNotifyPath, "/pay/bare", 1)
	if st, ans := PostNotification(t, NewClient(), bare, down.Sign(db), db); st != 500 || ans["code"] != "FAIL" {
		t.Fatalf("nothing after wechatpay_notify: %d %v", st, ans)
	}
	// The store kept no mark: with the backend back, it is forwarded.
	StartCaddy(t, PayConfig(PaySetup{APIBase: NewFakePay(t).URL, Files: WritePayFiles(t), Backend: backend.URL}))
	before := len(backend.Calls())
	if st, ans := notify(t, down.Sign(db), db); st != 204 {
		t.Fatalf("after the failures: %d %v", st, ans)
	}
	if len(backend.Calls()) != before+1 {
		t.Fatal("the notification that failed everywhere was not forwarded once the backend was back")
	}
}
