package wechatpay

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// bodyMarker is in every answer body of the fake: a refused answer's
// error must not carry it.
const bodyMarker = "BODY-MARKER-7f3a"

// fakePay plays WeChat Pay. It checks each request's Authorization with
// its own parser and crypto/rsa directly (not with the package's
// verifier), and answers signed with signKey under signSerial, spoiled
// as mode says.
type fakePay struct {
	t           *testing.T
	merchantPub *rsa.PublicKey

	mu         sync.Mutex
	signKey    *rsa.PrivateKey
	signSerial string
	mode       string
	certBody   []byte // the /v3/certificates answer
	authOK     []bool // one per request: did its Authorization verify
	lastAuth   string
	redirected int
}

var authPattern = regexp.MustCompile(`^WECHATPAY2-SHA256-RSA2048 mchid="(\d+)",nonce_str="([A-Z0-9]{32})",timestamp="(\d+)",serial_no="([0-9A-F]+)",signature="([A-Za-z0-9+/=]+)"$`)

// checkAuth verifies the merchant's signature the way WeChat Pay
// documents it, independently of this package.
func (f *fakePay) checkAuth(r *http.Request, body []byte) bool {
	m := authPattern.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil || m[1] != testMchID || m[4] != testMchSerial {
		return false
	}
	ts, _ := strconv.ParseInt(m[3], 10, 64)
	if d := time.Since(time.Unix(ts, 0)); d > time.Minute || d < -time.Minute {
		return false
	}
	msg := r.Method + "\n" + r.RequestURI + "\n" + m[3] + "\n" + m[2] + "\n" + string(body) + "\n"
	sig, err := base64.StdEncoding.DecodeString(m[5])
	if err != nil {
		return false
	}
	sum := sha256.Sum256([]byte(msg))
	return rsa.VerifyPKCS1v15(f.merchantPub, crypto.SHA256, sum[:], sig) == nil
}

func (f *fakePay) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	ok := f.checkAuth(r, body) && r.Header.Get("Accept") == "application/json" &&
		strings.HasPrefix(r.Header.Get("User-Agent"), "caddy-wechat-wechatpay/") &&
		(r.Header.Get("Content-Type") == "application/json") == (len(body) > 0)
	f.authOK = append(f.authOK, ok)
	f.lastAuth = r.Header.Get("Authorization")
	if !ok {
		// WeChat Pay does not sign its answer to a request it cannot
		// authenticate.
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"code":"SIGN_ERROR","message":"` + bodyMarker + `"}`))
		return
	}
	status := http.StatusOK
	var answer []byte
	switch r.URL.Path {
	case "/v3/pay/transactions/jsapi":
		answer = []byte(`{"prepay_id":"wx201410272009395522657a690389285100","note":"` + bodyMarker + `"}`)
	case "/v3/certificates":
		answer = f.certBody
	case "/v3/refund/domestic/refunds":
		status, answer = http.StatusBadRequest, []byte(`{"code":"PARAM_ERROR","message":"`+bodyMarker+`"}`)
	case "/v3/billdownload/file":
		// Bill files are not signed.
		_, _ = w.Write([]byte("交易时间,公众账号ID\n`2024-01-01 00:00:00,`wx4f4bc4dec97d474b\n"))
		return
	case "/v3/redirected":
		f.redirected++
	case "/v3/not-found":
		w.WriteHeader(http.StatusNotFound)
		return
	default:
		answer = []byte(`{"path":"` + r.URL.Path + `","note":"` + bodyMarker + `"}`)
	}
	if f.mode == "signed-error" {
		status, answer = http.StatusBadRequest, []byte(`{"code":"PARAM_ERROR","message":"`+bodyMarker+`"}`)
	}
	key, serial, ts, signed := f.signKey, f.signSerial, time.Now().Unix(), answer
	switch f.mode {
	case "bad-signature":
		signed = []byte(`{"prepay_id":"forged"}`)
	case "unknown-serial":
		serial = "PUB_KEY_ID_0199999999999999999999999999999999"
	case "stale-past":
		ts -= 301
	case "stale-future":
		ts += 301
	case "wrong-key":
		key = generatedKey(f.t, 0)
		if f.signKey == key {
			key = generatedKey(f.t, 1)
		}
	case "tampered":
		answer = append(bytes.Clone(answer), ' ')
	case "huge":
		answer = append(bytes.Repeat([]byte(" "), MaxResponseBytes), answer...)
		signed = answer
	case "redirect":
		http.Redirect(w, r, "/v3/redirected", http.StatusFound)
		return
	}
	if f.mode != "unsigned" {
		nonce, _ := NewNonce()
		if err := SignResponseHeaders(w.Header(), key, serial, signed, ts, nonce); err != nil {
			f.t.Error(err)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(answer)
}

func (f *fakePay) set(mode string) {
	f.mu.Lock()
	f.mode = mode
	f.mu.Unlock()
}

// lastAuthOK reports whether the last request's Authorization verified.
func (f *fakePay) lastAuthOK() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.authOK) > 0 && f.authOK[len(f.authOK)-1]
}

// newFakePay starts a fake signing with a PUB_KEY_ID_ key, and a Client
// that trusts that key.
func newFakePay(t *testing.T) (*fakePay, *Client, *httptest.Server) {
	t.Helper()
	m := testMerchant(t)
	wx := generatedKey(t, 0)
	f := &fakePay{t: t, merchantPub: &m.Key.PublicKey, signKey: wx, signSerial: testPubKeyID}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	v := &Verifier{}
	if err := v.AddPublicKey(testPubKeyID, &wx.PublicKey); err != nil {
		t.Fatal(err)
	}
	return f, &Client{BaseURL: srv.URL, HTTPClient: srv.Client(), Merchant: m, Verifier: v}, srv
}

// TestClientDo: a signed POST and a signed GET reach the fake with a
// valid Authorization (checked independently), and the verified answer
// comes back with its exact body.
func TestClientDo(t *testing.T) {
	f, c, _ := newFakePay(t)
	ctx := context.Background()
	resp, err := c.Do(ctx, "POST", "/v3/pay/transactions/jsapi", []byte(vecJSAPIBody))
	if err != nil {
		t.Fatal(err)
	}
	if !f.lastAuthOK() {
		t.Fatal("fake refused our POST Authorization")
	}
	if resp.StatusCode != 200 || !bytes.HasPrefix(resp.Body, []byte(`{"prepay_id":"wx201410272009395522657a690389285100"`)) {
		t.Fatalf("%d %s", resp.StatusCode, resp.Body)
	}
	resp, err = c.Do(ctx, "GET", vecGETPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !f.lastAuthOK() || !bytes.Contains(resp.Body, []byte(`"path":"/v3/pay/transactions/out-trade-no/ORDER20240101000001"`)) {
		t.Fatalf("GET: auth %v body %s", f.lastAuthOK(), resp.Body)
	}
	// A signed error answer is an answer: the caller reads WeChat Pay's code.
	resp, err = c.Do(ctx, "POST", "/v3/refund/domestic/refunds", []byte(`{}`))
	if err != nil || resp.StatusCode != 400 || !bytes.Contains(resp.Body, []byte("PARAM_ERROR")) {
		t.Fatalf("signed 400: %v %+v", err, resp)
	}
}

// TestClientRefusesBadAnswers: an answer with a bad signature, an
// unknown serial, a stale timestamp either way, no signature, a body
// changed after signing, or the wrong key is a *ResponseSignatureError
// with its reason, no body is returned, and the error text holds neither
// the body nor our Authorization. A redirect is not followed.
func TestClientRefusesBadAnswers(t *testing.T) {
	f, c, _ := newFakePay(t)
	cases := map[string]Reason{
		"bad-signature":  ReasonBadSignature,
		"unknown-serial": ReasonUnknownSerial,
		"stale-past":     ReasonStaleTimestamp,
		"stale-future":   ReasonStaleTimestamp,
		"unsigned":       ReasonMissingHeader,
		"tampered":       ReasonBadSignature,
		"wrong-key":      ReasonBadSignature,
		"redirect":       ReasonMissingHeader,
	}
	for mode, want := range cases {
		f.set(mode)
		resp, err := c.Do(context.Background(), "POST", "/v3/pay/transactions/jsapi", []byte(vecJSAPIBody))
		var rse *ResponseSignatureError
		if resp != nil || !errors.As(err, &rse) {
			t.Errorf("%s: (%v, %v), want *ResponseSignatureError and no response", mode, resp, err)
			continue
		}
		if rse.Err.Reason != want || reasonOf(err) != want {
			t.Errorf("%s: reason %v, want %v", mode, rse.Err.Reason, want)
		}
		if !f.lastAuthOK() {
			t.Errorf("%s: our request was refused by the fake", mode)
		}
		p, _ := ParseAuthorization(f.lastAuth)
		assertNoLeak(t, err, bodyMarker, p.Signature, f.lastAuth, "prepay_id")
	}
	if f.redirected != 0 {
		t.Errorf("redirect followed %d times", f.redirected)
	}
	f.set("huge")
	_, err := c.Do(context.Background(), "POST", "/v3/pay/transactions/jsapi", []byte(vecJSAPIBody))
	var te *TransportError
	if !errors.As(err, &te) || !strings.Contains(err.Error(), "cap") {
		t.Errorf("huge answer: %v", err)
	}
	f.set("ok")
	c.Verifier = nil
	if _, err := c.Do(context.Background(), "GET", "/v3/x", nil); reasonOf(err) != ReasonUnknownSerial {
		t.Errorf("nil Verifier: %v", err)
	}
	// WeChat Pay's unsigned 401 for a request it could not authenticate
	// is refused too, with its status kept for the log.
	c.Verifier = &Verifier{}
	c.Merchant.Serial = "0000000000000000"
	_, err = c.Do(context.Background(), "GET", "/v3/x", nil)
	var rse *ResponseSignatureError
	if !errors.As(err, &rse) || rse.StatusCode != 401 {
		t.Errorf("unsigned 401: %v", err)
	}
	assertNoLeak(t, err, bodyMarker, "SIGN_ERROR")
}

// TestClientTransportErrorsKeepNoURL: a refused connection and a timeout
// give *TransportError whose text has neither the query nor the
// Authorization.
func TestClientTransportErrorsKeepNoURL(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c := &Client{BaseURL: "http://" + addr, Merchant: testMerchant(t), Verifier: &Verifier{}}
	_, err = c.Do(context.Background(), "GET", "/v3/pay/transactions/id/1?mchid=SECRET-QUERY-1", nil)
	var te *TransportError
	if !errors.As(err, &te) || te.Timeout {
		t.Fatalf("closed port: %v", err)
	}
	assertNoLeak(t, err, "SECRET-QUERY-1", "WECHATPAY2", "signature")

	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	defer srv.Close()
	defer close(block)
	c.BaseURL = srv.URL
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = c.Do(ctx, "GET", "/v3/x?mchid=SECRET-QUERY-2", nil)
	if !errors.As(err, &te) || !te.Timeout {
		t.Fatalf("timeout: %v", err)
	}
	assertNoLeak(t, err, "SECRET-QUERY-2", srv.URL)

	if _, err := c.Do(context.Background(), "GET", "v3/no-slash", nil); err == nil {
		t.Error("path without / accepted")
	}
	if _, err := (&Client{BaseURL: srv.URL}).Do(context.Background(), "GET", "/v3/x", nil); err == nil {
		t.Error("client without merchant sent a request")
	}
}

// TestClientDownloadBill: the bill file, which WeChat Pay does not sign,
// is fetched with a signed request and returned unverified; its hash is
// checked against the signed answer's hash_value. A URL off the API
// origin is refused before anything is sent, and no error shows the
// download token.
func TestClientDownloadBill(t *testing.T) {
	f, c, srv := newFakePay(t)
	u := srv.URL + "/v3/billdownload/file?token=SECRET-TOKEN-9&tartype=CSV"
	resp, err := c.DownloadBill(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	if !f.lastAuthOK() || !bytes.Contains(resp.Body, []byte("交易时间")) {
		t.Fatalf("auth %v body %q", f.lastAuthOK(), resp.Body)
	}
	sum := sha1.Sum(resp.Body)
	if err := CheckBillHash(resp.Body, "SHA1", strings.ToUpper(hex.EncodeToString(sum[:]))); err != nil {
		t.Error(err)
	}
	if err := CheckBillHash(append(resp.Body, 'x'), "SHA1", hex.EncodeToString(sum[:])); err == nil {
		t.Error("altered bill matched its hash")
	}
	if err := CheckBillHash(resp.Body, "MD5", hex.EncodeToString(sum[:])); err == nil {
		t.Error("MD5 hash_type accepted")
	}
	n := len(f.authOK)
	for _, other := range []string{
		"http://evil.example/v3/billdownload/file?token=SECRET-TOKEN-9",
		strings.Replace(u, "http://", "https://", 1),
		strings.Replace(u, "http://", "http://user:pw@", 1),
		"::not a url?token=SECRET-TOKEN-9",
	} {
		_, err := c.DownloadBill(context.Background(), other)
		if err == nil {
			t.Errorf("%s accepted", other)
		}
		assertNoLeak(t, err, "SECRET-TOKEN-9", "evil.example")
	}
	if len(f.authOK) != n {
		t.Error("a request went out for a URL off the origin")
	}
	_, err = c.DownloadBill(context.Background(), srv.URL+"/v3/not-found?token=SECRET-TOKEN-9")
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != 404 {
		t.Errorf("404 bill: %v", err)
	}
	assertNoLeak(t, err, "SECRET-TOKEN-9")
}

// TestFetchCertificates: the first fetch bootstraps from the certificate
// the answer carries; the answer must be signed by it (or by a key held
// already); a forged signature, a signer we cannot know, or another
// APIv3 key fail; and the fetched set then verifies answers.
func TestFetchCertificates(t *testing.T) {
	f, c, _ := newFakePay(t)
	now := time.Now()
	platKey := generatedKey(t, 1)
	const platSerial = "3775B6A45ACD588826D15E583A95F5DD6B5D5F0B"
	cert := selfSigned(t, platKey, platSerial, now.Add(-time.Hour), now.Add(365*24*time.Hour))
	apiV3 := []byte(testAPIv3Key)
	certBody, err := EncodeCertificates([]*x509.Certificate{cert}, apiV3)
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.certBody = certBody
	f.signKey, f.signSerial = platKey, platSerial // a merchant still on certificates
	f.mu.Unlock()

	c.Verifier = &Verifier{} // nothing known yet
	certs, err := c.FetchCertificates(context.Background(), apiV3)
	if err != nil {
		t.Fatal(err)
	}
	if len(certs) != 1 || certs[0].Serial != platSerial || !certs[0].PublicKey.Equal(&platKey.PublicKey) {
		t.Fatalf("%+v", certs)
	}
	if len(c.Verifier.Serials()) != 0 {
		t.Error("FetchCertificates installed the certificates itself")
	}
	if err := c.Verifier.SetCertificates(certs); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Do(context.Background(), "GET", "/v3/x", nil); err != nil {
		t.Fatalf("answer signed by the fetched certificate: %v", err)
	}

	// Refusals, first with nothing known, then with the certificate known.
	for _, known := range []bool{false, true} {
		c.Verifier = &Verifier{}
		if known {
			if err := c.Verifier.SetCertificates(certs); err != nil {
				t.Fatal(err)
			}
		}
		for mode, want := range map[string]Reason{"wrong-key": ReasonBadSignature, "unknown-serial": ReasonUnknownSerial, "stale-past": ReasonStaleTimestamp, "tampered": ReasonBadSignature} {
			f.set(mode)
			got, err := c.FetchCertificates(context.Background(), apiV3)
			var rse *ResponseSignatureError
			if got != nil || !errors.As(err, &rse) || rse.Err.Reason != want {
				t.Errorf("known=%v %s: %v, want %v", known, mode, err, want)
			}
		}
		f.set("ok")
		var de *DecryptError
		if _, err := c.FetchCertificates(context.Background(), []byte("ffffffffffffffffffffffffffffffff")); !errors.As(err, &de) {
			t.Errorf("known=%v other APIv3 key: %v", known, err)
		}
	}

	// A merchant on a WeChat Pay public key: the answer is signed by the
	// PUB_KEY_ID_ key already held.
	wx := generatedKey(t, 0)
	c.Verifier = &Verifier{}
	if err := c.Verifier.AddPublicKey(testPubKeyID, &wx.PublicKey); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.signKey, f.signSerial = wx, testPubKeyID
	f.mu.Unlock()
	if got, err := c.FetchCertificates(context.Background(), apiV3); err != nil || len(got) != 1 {
		t.Fatalf("signed by a known public key: %v", err)
	}
	// A signed error answer gives its status and code; unsigned by a key
	// we hold, it is refused with its status kept.
	f.set("signed-error")
	_, err = c.FetchCertificates(context.Background(), apiV3)
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != 400 || se.Code != "PARAM_ERROR" {
		t.Errorf("signed error answer: %v", err)
	}
	assertNoLeak(t, err, bodyMarker)
	c.Verifier = &Verifier{}
	_, err = c.FetchCertificates(context.Background(), apiV3)
	var rse *ResponseSignatureError
	if !errors.As(err, &rse) || rse.StatusCode != 400 || rse.Err.Reason != ReasonUnknownSerial {
		t.Errorf("error answer from an unknown signer: %v", err)
	}
}

// TestClientRefreshOnUnknownSerial: an answer signed under a serial the
// Verifier does not hold calls Refresh once and is verified again, from
// the same bytes, without a second request; Refresh is not called for
// any other failure, and a Refresh that finds nothing leaves the answer
// refused.
func TestClientRefreshOnUnknownSerial(t *testing.T) {
	f, c, _ := newFakePay(t)
	now := time.Now()
	platKey := generatedKey(t, 1)
	const platSerial = "5157F09EFDC096DE15EBE81A47057A7232F19D0B"
	cert, err := NewPlatformCertificate(selfSigned(t, platKey, platSerial, now.Add(-time.Hour), now.Add(time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.signKey, f.signSerial = platKey, platSerial
	f.mu.Unlock()

	var calls []string
	install := true
	c.Refresh = func(ctx context.Context, serial string) bool {
		calls = append(calls, serial)
		if !install {
			return false
		}
		return c.Verifier.SetCertificates([]PlatformCertificate{cert}) == nil
	}
	requests := func() int {
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.authOK)
	}
	resp, err := c.Do(context.Background(), "GET", "/v3/x", nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("after a refresh: %v", err)
	}
	if len(calls) != 1 || calls[0] != platSerial || requests() != 1 {
		t.Fatalf("Refresh calls %v, requests %d; want one each", calls, requests())
	}
	// Known now: no refresh.
	if _, err := c.Do(context.Background(), "GET", "/v3/x", nil); err != nil || len(calls) != 1 {
		t.Fatalf("known serial: %v, refresh calls %v", err, calls)
	}
	// A bad signature under a known serial is not a rotation.
	f.set("bad-signature")
	if _, err := c.Do(context.Background(), "GET", "/v3/x", nil); reasonOf(err) != ReasonBadSignature || len(calls) != 1 {
		t.Fatalf("bad signature: %v, refresh calls %v", err, calls)
	}
	// Refresh that finds nothing: still refused, as unknown.
	f.set("unknown-serial")
	install = false
	if _, err := c.Do(context.Background(), "GET", "/v3/x", nil); !IsUnknownSerial(err) || len(calls) != 2 {
		t.Fatalf("unknown serial, nothing found: %v, refresh calls %v", err, calls)
	}
	if IsUnknownSerial(nil) || IsUnknownSerial(errors.New("x")) {
		t.Fatal("IsUnknownSerial of a non-VerifyError")
	}
}
