package testenv

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// PayBodyMarker is in the body of every answer the fake sends: an answer
// the edge refuses must not reach the backend, marker included.
const PayBodyMarker = "PAY-BODY-MARKER-5c1e"

// FakePrepayID is the prepay_id the fake issues.
const FakePrepayID = "wx26112221580621e9b071c00d9e093b0000"

// FakePay plays WeChat Pay over real HTTP for the edge's tests. It checks
// every request's Authorization with its own parser and crypto/rsa (not
// with the wechatpay package), records what it received, and signs its
// answers with crypto/rsa, spoiled as Mode says.
type FakePay struct {
	*httptest.Server
	keys *PayKeys

	// Mu guards the fields below; Set takes it.
	Mu sync.Mutex
	// Mode spoils the answers: "" (none), tampered, reserialised,
	// unknown-serial, mislabelled (signed by WeChat's key, named as the
	// rotated certificate), stale-past, stale-future, wrong-key, unsigned,
	// hang.
	Mode string
	// Serial is the Wechatpay-Serial answers are signed under: PayPubKeyID
	// (the default, WeChat's key) or a certificate serial of Certs.
	Serial string
	// Certs are served at /v3/certificates (default: Keys.Cert); CertStatus,
	// when set, is answered there instead, unsigned.
	Certs      []*x509.Certificate
	CertStatus int
	// Requests are every request received, in order.
	Requests    []PayRequest
	CertFetches int
}

// PayRequest is one request the fake received.
type PayRequest struct {
	Method string
	URI    string
	Header http.Header
	Body   []byte
	AuthOK bool
}

// NewFakePay starts the fake.
func NewFakePay(t *testing.T) *FakePay {
	t.Helper()
	f := &FakePay{keys: Keys(t), Serial: PayPubKeyID}
	f.Certs = []*x509.Certificate{f.keys.Cert}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

// Set changes the fake under its lock.
func (f *FakePay) Set(fn func(f *FakePay)) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	fn(f)
}

// Received returns a copy of the requests so far.
func (f *FakePay) Received() []PayRequest {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	return append([]PayRequest(nil), f.Requests...)
}

// Last is the last request received; it fails the test if there is none.
func (f *FakePay) Last(t *testing.T) PayRequest {
	t.Helper()
	r := f.Received()
	if len(r) == 0 {
		t.Fatal("the fake WeChat Pay received nothing")
	}
	return r[len(r)-1]
}

// Fetches is how many times /v3/certificates was asked for.
func (f *FakePay) Fetches() int {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	return f.CertFetches
}

var payAuthPattern = regexp.MustCompile(`^WECHATPAY2-SHA256-RSA2048 mchid="(\d+)",nonce_str="([A-Za-z0-9]{1,32})",timestamp="(\d+)",serial_no="([0-9A-F]+)",signature="([A-Za-z0-9+/=]+)"$`)

// checkAuth verifies a request as WeChat Pay documents it: the message
// METHOD\nURI\nTIMESTAMP\nNONCE\nBODY\n, signed by the merchant's key, a
// timestamp within a minute, the merchant's id and certificate serial.
func (f *FakePay) checkAuth(r *http.Request, body []byte) bool {
	if len(r.Header.Values("Authorization")) != 1 {
		return false
	}
	m := payAuthPattern.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil || m[1] != PayMchID || m[4] != PayMchSerial {
		return false
	}
	ts, _ := strconv.ParseInt(m[3], 10, 64)
	if d := time.Since(time.Unix(ts, 0)); d > time.Minute || d < -time.Minute {
		return false
	}
	sig, err := base64.StdEncoding.DecodeString(m[5])
	if err != nil {
		return false
	}
	sum := sha256.Sum256([]byte(r.Method + "\n" + r.RequestURI + "\n" + m[3] + "\n" + m[2] + "\n" + string(body) + "\n"))
	return rsa.VerifyPKCS1v15(&f.keys.Merchant.PublicKey, crypto.SHA256, sum[:], sig) == nil
}

func (f *FakePay) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	ok := f.checkAuth(r, body)
	f.Mu.Lock()
	f.Requests = append(f.Requests, PayRequest{Method: r.Method, URI: r.RequestURI, Header: r.Header.Clone(), Body: body, AuthOK: ok})
	mode, serial := f.Mode, f.Serial
	certs, certStatus := f.Certs, f.CertStatus
	if r.URL.Path == "/v3/certificates" {
		f.CertFetches++
	}
	f.Mu.Unlock()
	if !ok {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"code":"SIGN_ERROR","message":"` + PayBodyMarker + `"}`))
		return
	}
	if mode == "hang" {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
		return
	}
	status, answer := http.StatusOK, []byte(nil)
	seg := strings.Split(strings.TrimPrefix(r.URL.Path, "/v3/"), "/")
	switch {
	case r.URL.Path == "/v3/pay/transactions/jsapi":
		// Spaces on purpose: a re-serialised body differs from this.
		answer = []byte(`{"prepay_id": "` + FakePrepayID + `", "marker": "` + PayBodyMarker + `"}`)
	case len(seg) == 4 && seg[0] == "pay" && (seg[2] == "out-trade-no" || seg[2] == "id") && r.Method == http.MethodGet:
		answer = []byte(`{"mchid": "` + r.URL.Query().Get("mchid") + `", "` + map[string]string{"out-trade-no": "out_trade_no", "id": "transaction_id"}[seg[2]] +
			`": "` + seg[3] + `", "trade_state": "SUCCESS", "marker": "` + PayBodyMarker + `"}`)
	case len(seg) == 5 && seg[4] == "close":
		status = http.StatusNoContent
	case r.URL.Path == "/v3/refund/domestic/refunds":
		var req map[string]any
		_ = json.Unmarshal(body, &req)
		answer, _ = json.Marshal(map[string]any{"status": "PROCESSING", "out_refund_no": req["out_refund_no"], "notify_url_received": req["notify_url"], "marker": PayBodyMarker})
	case len(seg) == 4 && seg[0] == "refund":
		answer = []byte(`{"out_refund_no": "` + seg[3] + `", "status": "SUCCESS", "marker": "` + PayBodyMarker + `"}`)
	case r.URL.Path == "/v3/bill/tradebill":
		sum := sha1.Sum(FakeBillFile())
		answer, _ = json.Marshal(map[string]string{"hash_type": "SHA1", "hash_value": hex.EncodeToString(sum[:]), "download_url": f.URL + "/v3/billdownload/file?token=FAKETOKEN"})
	case r.URL.Path == "/v3/billdownload/file":
		// Bill files are not signed.
		if r.URL.Query().Get("token") != "FAKETOKEN" {
			status, answer = http.StatusBadRequest, []byte(`{"code":"INVALID_REQUEST","message":"`+PayBodyMarker+`"}`)
			break
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write(FakeBillFile())
		return
	case r.URL.Path == "/v3/certificates":
		if certStatus != 0 {
			w.WriteHeader(certStatus)
			return
		}
		var err error
		if answer, err = sealCertificates(certs); err != nil {
			panic(err)
		}
		// Signed by the newest certificate it carries.
		serial = strings.ToUpper(hex.EncodeToString(certs[len(certs)-1].SerialNumber.Bytes()))
	case r.URL.Path == "/v3/errors":
		status, answer = http.StatusBadRequest, []byte(`{"code": "PARAM_ERROR", "message": "`+PayBodyMarker+`"}`)
	default:
		status, answer = http.StatusNotFound, []byte(`{"code":"NOT_FOUND","message":"`+PayBodyMarker+`"}`)
	}

	key := f.keys.keyOf(serial)
	signed, sent := answer, answer
	ts := time.Now().Unix()
	switch mode {
	case "tampered":
		sent = bytes.Replace(answer, []byte(`"`), []byte(`"x`), 1)
	case "reserialised":
		var v any
		if json.Unmarshal(answer, &v) == nil {
			sent, _ = json.Marshal(v)
		}
	case "unknown-serial":
		serial = "PUB_KEY_ID_0199999999999999999999999999999999"
	case "mislabelled":
		// Signed by WeChat's public key, named as the rotated platform
		// certificate: both trusted, but not this pair.
		key, serial = f.keys.WeChat, f.keys.RotatedCertSerial
	case "stale-past":
		ts -= 301
	case "stale-future":
		ts += 301
	case "wrong-key":
		key = f.keys.Other
	}
	if mode != "unsigned" {
		SignPayHeaders(w.Header(), key, serial, ts, RandomNonce(), signed)
	}
	w.Header().Set("Request-ID", "fake-request-id-0001")
	if len(sent) > 0 {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(status)
	_, _ = w.Write(sent)
}

// keyOf is the private key behind a serial the fake signs under.
func (k *PayKeys) keyOf(serial string) *rsa.PrivateKey {
	switch serial {
	case k.RotatedCertSerial:
		return k.Rotated
	case k.OtherCertSerial:
		return k.Other
	}
	return k.WeChat
}

// FakeBillFile is the fake's trade bill.
func FakeBillFile() []byte {
	return []byte("交易时间,公众账号ID,商户号,微信订单号,商户订单号\r\n`2026-12-01 10:00:00,`" + AppID + ",`" + PayMchID + ",`4200000000000000000000000001,`ORDER0001\r\n")
}

// SignPayHeaders signs body as WeChat Pay signs an answer or a
// notification (TIMESTAMP\nNONCE\nBODY\n, RSA-SHA256), with crypto/rsa
// alone, and sets the four Wechatpay-* headers.
func SignPayHeaders(h http.Header, key *rsa.PrivateKey, serial string, ts int64, nonce string, body []byte) {
	t := strconv.FormatInt(ts, 10)
	sum := sha256.Sum256([]byte(t + "\n" + nonce + "\n" + string(body) + "\n"))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		panic(err)
	}
	h.Set("Wechatpay-Serial", serial)
	h.Set("Wechatpay-Timestamp", t)
	h.Set("Wechatpay-Nonce", nonce)
	h.Set("Wechatpay-Signature", base64.StdEncoding.EncodeToString(sig))
}

// RandomNonce is 32 random characters.
func RandomNonce() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return strings.ToUpper(hex.EncodeToString(b))
}

// SealResource encrypts plaintext with AES-256-GCM as WeChat Pay seals a
// resource (crypto/cipher alone): a 12-character nonce, the associated
// data, the tag after the ciphertext, base64.
func SealResource(key, plaintext []byte, aad, originalType string) map[string]string {
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	nonce := RandomNonce()[:12]
	ct := gcm.Seal(nil, []byte(nonce), plaintext, []byte(aad))
	r := map[string]string{"algorithm": "AEAD_AES_256_GCM", "ciphertext": base64.StdEncoding.EncodeToString(ct), "associated_data": aad, "nonce": nonce}
	if originalType != "" {
		r["original_type"] = originalType
	}
	return r
}

// sealCertificates is a /v3/certificates answer for certs under the
// tests' APIv3 key.
func sealCertificates(certs []*x509.Certificate) ([]byte, error) {
	var data []map[string]any
	for _, c := range certs {
		p := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
		data = append(data, map[string]any{
			"serial_no":           strings.ToUpper(hex.EncodeToString(c.SerialNumber.Bytes())),
			"effective_time":      c.NotBefore.Format(time.RFC3339),
			"expire_time":         c.NotAfter.Format(time.RFC3339),
			"encrypt_certificate": SealResource([]byte(PayAPIv3Key), p, "certificate", ""),
		})
	}
	return json.Marshal(map[string]any{"data": data})
}
