package wechatpay

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestAuthorizationRoundTrip: a header made with a fresh nonce parses back
// to its parts and verifies as WeChat Pay would check it, and only for
// the exact request it signed.
func TestAuthorizationRoundTrip(t *testing.T) {
	m := testMerchant(t)
	body := []byte(vecJSAPIBody)
	h, err := m.Authorization("POST", "/v3/pay/transactions/jsapi", body)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParseAuthorization(h)
	if err != nil {
		t.Fatal(err)
	}
	if p.MchID != testMchID || p.Serial != testMchSerial || len(p.Nonce) != NonceLen || strings.Trim(p.Nonce, nonceAlphabet) != "" {
		t.Errorf("params %+v", p)
	}
	if p.String() != h {
		t.Errorf("String() does not round-trip")
	}
	pub := &m.Key.PublicKey
	now := time.Now()
	if _, err := VerifyAuthorization(pub, h, "POST", "/v3/pay/transactions/jsapi", body, now); err != nil {
		t.Fatal(err)
	}
	wrong := map[string]func() error{
		"method": func() error {
			_, err := VerifyAuthorization(pub, h, "PUT", "/v3/pay/transactions/jsapi", body, now)
			return err
		},
		"path": func() error {
			_, err := VerifyAuthorization(pub, h, "POST", "/v3/pay/transactions/native", body, now)
			return err
		},
		"body": func() error {
			_, err := VerifyAuthorization(pub, h, "POST", "/v3/pay/transactions/jsapi", append(body, ' '), now)
			return err
		},
		"key": func() error {
			_, err := VerifyAuthorization(&generatedKey(t, 0).PublicKey, h, "POST", "/v3/pay/transactions/jsapi", body, now)
			return err
		},
		"stale": func() error {
			_, err := VerifyAuthorization(pub, h, "POST", "/v3/pay/transactions/jsapi", body, now.Add(6*time.Minute))
			return err
		},
	}
	for name, f := range wrong {
		if err := f(); err == nil {
			t.Errorf("wrong %s verified", name)
		}
	}
	// VerifyRequest uses the request URI as it arrived.
	r := httptest.NewRequest("GET", vecGETPath, nil)
	gh, _ := m.Authorization("GET", vecGETPath, nil)
	r.Header.Set("Authorization", gh)
	if _, err := VerifyRequest(pub, r, nil, now); err != nil {
		t.Errorf("VerifyRequest: %v", err)
	}
	r.Header.Add("Authorization", gh)
	if reasonOf(func() error { _, err := VerifyRequest(pub, r, nil, now); return err }()) != ReasonMalformedHeader {
		t.Error("two Authorization headers accepted")
	}
}

// TestParseAuthorizationRefusals: wrong scheme, missing, repeated,
// unknown or unquoted parameters, and oversized headers are malformed.
func TestParseAuthorizationRefusals(t *testing.T) {
	good := vecJSAPIAuth
	if _, err := ParseAuthorization(good); err != nil {
		t.Fatal(err)
	}
	bad := map[string]string{
		"other scheme":      strings.Replace(good, "WECHATPAY2-SHA256-RSA2048", "WECHATPAY2-SHA256-RSA", 1),
		"lowercase scheme":  strings.Replace(good, "WECHATPAY2", "wechatpay2", 1),
		"no space":          strings.Replace(good, "RSA2048 ", "RSA2048", 1),
		"missing signature": good[:strings.Index(good, `,signature=`)],
		"repeated mchid":    good + `,mchid="1"`,
		"unknown parameter": good + `,extra="1"`,
		"unquoted":          strings.Replace(good, `mchid="1234567890"`, `mchid=1234567890`, 1),
		"empty value":       strings.Replace(good, `mchid="1234567890"`, `mchid=""`, 1),
		"quote inside":      strings.Replace(good, `mchid="1234567890"`, `mchid="12"34"`, 1),
		"oversized":         good + strings.Repeat(" ", 5000),
		"trailing comma":    good + ",",
	}
	for name, h := range bad {
		if r := reasonOf(func() error { _, err := ParseAuthorization(h); return err }()); r != ReasonMalformedHeader {
			t.Errorf("%s: reason %v", name, r)
		}
	}
	if r := reasonOf(func() error { _, err := ParseAuthorization(""); return err }()); r != ReasonMissingHeader {
		t.Errorf("empty: %v", r)
	}
	// Optional spaces after commas are tolerated.
	if _, err := ParseAuthorization(strings.ReplaceAll(good, `",`, `", `)); err != nil {
		t.Errorf("spaces after commas: %v", err)
	}
}

// TestAuthorizationInputs: values that would shift the signed message's
// lines or break the header's quoting are refused before signing.
func TestAuthorizationInputs(t *testing.T) {
	m := testMerchant(t)
	bad := []struct{ method, path, nonce string }{
		{"post", "/v3/x", "N"},
		{"", "/v3/x", "N"},
		{"POST", "v3/x", "N"},
		{"POST", "/v3/x\n1624523846", "N"},
		{"POST", `/v3/"x`, "N"},
		{"POST", "/v3/x", ""},
		{"POST", "/v3/x", "N\nM"},
		{"POST", "/v3/x", `N"`},
		{"POST", "/v3/x", strings.Repeat("N", 33)},
	}
	for _, c := range bad {
		if _, err := m.AuthorizationAt(c.method, c.path, nil, vecTimestamp, c.nonce); err == nil {
			t.Errorf("%q %q %q accepted", c.method, c.path, c.nonce)
		}
	}
	if _, err := m.AuthorizationAt("GET", "/v3/x", nil, 0, "N"); err == nil {
		t.Error("zero timestamp accepted")
	}
}

// TestNewNonce: 32 characters from [A-Z0-9], different every time, and
// every character of the alphabet turns up.
func TestNewNonce(t *testing.T) {
	seen := map[string]bool{}
	chars := map[rune]bool{}
	for i := 0; i < 200; i++ {
		n, err := NewNonce()
		if err != nil {
			t.Fatal(err)
		}
		if len(n) != 32 || strings.Trim(n, nonceAlphabet) != "" {
			t.Fatalf("nonce %q", n)
		}
		if seen[n] {
			t.Fatalf("nonce repeated: %q", n)
		}
		seen[n] = true
		for _, c := range n {
			chars[c] = true
		}
	}
	if len(chars) != 36 {
		t.Errorf("only %d of 36 characters in 6400 draws", len(chars))
	}
}

// TestRequestPaymentInputs: paySign refuses a prepay_id given with its
// "prepay_id=" prefix (it would be signed twice over) and values with
// newlines; a fresh one verifies.
func TestRequestPaymentInputs(t *testing.T) {
	m := testMerchant(t)
	p, err := m.RequestPayment("wx8888888888888888", "wx201410272009395522657a690389285100")
	if err != nil {
		t.Fatal(err)
	}
	if p.SignType != "RSA" || p.Package != "prepay_id=wx201410272009395522657a690389285100" || len(p.NonceStr) != 32 {
		t.Errorf("%+v", p)
	}
	if err := VerifyPaySign(&m.Key.PublicKey, "wx8888888888888888", p); err != nil {
		t.Error(err)
	}
	for _, c := range [][2]string{{"wx8888888888888888", "prepay_id=wx2014"}, {"wx88\n88", "wx2014"}, {"", "wx2014"}, {"wx88", ""}, {"wx88", "wx20\n14"}} {
		if _, err := m.RequestPayment(c[0], c[1]); err == nil {
			t.Errorf("%q %q accepted", c[0], c[1])
		}
	}
	if _, err := (Merchant{}).RequestPayment("wx88", "wx2014"); err == nil {
		t.Error("no key accepted")
	}
	p.SignType = "HMAC-SHA256"
	if err := VerifyPaySign(&m.Key.PublicKey, "wx8888888888888888", p); err == nil {
		t.Error("signType HMAC-SHA256 accepted")
	}
}
