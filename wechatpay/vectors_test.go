package wechatpay

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"
)

// Published by wechatpay-go@6dbd7ce2 (see testdata/README.md) and
// transcribed in /work/shared/wechat-reference.md.
const (
	vecSourceSignature = "BKyAfU4iMCuvXMXS0Wzam3V/cnxZ+JaqigPM5OhljS2iOT95OO6Fsuml2JkFANJU9K6q9bLlDhPXuoVz+pp4hAm6pHU4ld815U4jsKu1RkyaII+1CYBUYC8TK0XtJ8FwUXXz8vZHh58rrAVN1XwNyvD1vfpxrMT4SL536GLwvpUHlCqIMzoZUguLli/K8V29QiOhuH6IEqLNJn8e9b3nwNcQ7be3CzYGpDAKBfDGPCqCv8Rw5zndhlffk2FEA70G4hvMwe51qMN/RAJbknXG23bSlObuTCN7Ndj1aJGH6/L+hdwfLpUtJm4QYVazzW7DFD27EpSQEqA8bX9+8m1rLg=="

	vecAESKey        = "testAPIv3Key0000"
	vecAESNonce      = "wCq51qZv4Yfg"
	vecAESAAD        = "Dl56FrqWQJF1t9LtC3vEUsniZKvbqdR8"
	vecAESCiphertext = "FsdXzxryWfKwvLJKf8LG/ToRPTRh8RN9wROC"

	vecNotifyKey       = "testMchAPIv3Key0"
	vecNotifyNonce     = "EcZ9Cmy4Xyx1i6RlJQzLcCyEqDa26NBz"
	vecNotifyTimestamp = "1624523846"
	vecNotifySignature = "tJHIiIS9eB2hAYstmAmbbD3ZE5LiIm/Ug5tuL4fC0YOFRWIHV39UFIZXC0e9Wl6lBu6sKvkqDkzpqzBsVHyXFlbYZTOQrVdG4b6LfTnK4mikv9++ixJMd3vTf2yCqvBkh98zs3Ds5zsYQakzbcwhmw4fMJs4nPLws28H0UW9FjDR//rxELLwXvV1VEA1IBLX70xptjL8hrfUjEE8kkry6yNJTHZRU8CAc7qHli2Ng1V1qb9ARbK8A3ThmFmPQvRGrapI/jS2laKKgYUmfdEdkNO6B2Cke5e8VTxY406ArAmQ90GAihDwIcb16TQMnzCMBoutnwZKNiKRACrFmtxw2Q=="
	vecNotifyBody      = `{"id":"3119dfba-e649-5eec-ab1e-3412bc4d2e17","create_time":"2021-06-24T16:37:26+08:00","resource_type":"encrypt-resource","event_type":"PAYSCORE.USER_OPEN_SERVICE","summary":"签约成功","resource":{"original_type":"payscore","algorithm":"AEAD_AES_256_GCM","ciphertext":"YDS3lKPaC4Y52Gf3uhft5qUBlIa8b428AWTtTauHQfQrRw+X1WpiuHIDy0vo1Vd6VEq67aVyqPdDYMkRVSDaZL3iZttevRMOoPKMifozg6XPWjIZumks/GpT48lI4NizyeaqLBokNebthah3o1H76qSlO9NkDjp9bzmKLEYYH9TEklFUpsvPqOTOcgSLgh21YJXYR7dEBXFgRLiNIKRgO5JdXh1hccRUAlyVWxE54PXpnQ==","associated_data":"payscore","nonce":"Kj7QIyUiYx1q"}}`
	vecNotifyPlain     = `{"mchid":"1234567890","appid":"054aa7d7a2a54ab5898df65bd96f001c","create_time":"2020-06-30T12:12:00+08:00","out_contract_code":"21640bdbd08e473e828f3206a2741c6e"}`
)

// Computed by the project with the SDK's test key (not published by
// WeChat Pay); the peer test checks that an independent implementation
// agrees.
const (
	vecPaySign      = "UV+EKQ3OdnOkUbbKaVi53s/67T59JbHx9gc9MaWoQEOaiZH+uYMByfW2MWXTZW1gnOXl1CqwzHtx7QUxfatSdSxgBhbNhJx1QaxkP0zSXAgXIoWPAktOlj9n/phfOH95rNl8bHzRDUoNAMQmfQy8SHGooKtEU6/87nWXHhcYarv/nmtgAJcwsV+lGJQ4jLZhGl5BaAvpLW1Xg8yYg1DXNjik2SPK8d+4FRSkW671wIvxXQCYqG3mi3FvxP5XJ3OBVbPk4GRf/8wi2r2eiqXYd5e4mRMIAOGxqape9Cm46kxrjlHF0uM+wSir4Nychn2H5geUh2YvE8vJJMAqmkN2gg=="
	vecJSAPIBody    = `{"appid":"wx4f4bc4dec97d474b","mchid":"1234567890","description":"test-order","out_trade_no":"ORDER20240101000001","notify_url":"https://example.com/wxpay/notify","amount":{"total":1,"currency":"CNY"},"payer":{"openid":"oGZUI0egBJY1zhBYw2KhdUfwVJJE"}}`
	vecJSAPIAuth    = `WECHATPAY2-SHA256-RSA2048 mchid="1234567890",nonce_str="A1B2C3D4E5F6G7",timestamp="1624523846",serial_no="F5765756002FDD77",signature="bvaaaRU2Iq2dBI11cMyjoerNzzoEDqm45SC//kXfTVd4gSrJFFlS12WPKMQ9GkQJQc6qxJsXRQLst9viy66BYSxIU5lmgXdGu++ScQd/4PDfVH/avhgrZTz6N+hWh3Fz7G4sHXjXPq53IXF92pmx65MSUfJ7yMMimn+CKWF6Nvlpsuy52Z6xFSJPVHj8OtB8umzHQAy3D9MRcC+QYYyn8wpxKoSDKbEB8Y8AhGVoRYjjW4lN98QN53v45xAcY2lFYVeIv/yJ4aGSs1fmABJNx7CrUUcLChpuqvEF2XGYBmDH7wCckA4Cup9P9hgFcRYImSaOLUNi7J2eQPJ6w0giLA=="`
	vecGETPath      = "/v3/pay/transactions/out-trade-no/ORDER20240101000001?mchid=1234567890"
	vecGETSignature = "IrlOf+NG/5sBE8jvMwWvHHjl0pjudHwtB4p8+577EBVkOA/CZ1zVP0nU7mGldGFF9S+P6IOZHwYJWYeBMnmkaDMLseppgo1EKw0dT2a0tsqGUSeE64oD2pshuIi6tsm7URRNhnTDkHB3tt7i8BDNBc08xQ7TDpQle9MFgcPTUrQlakuFrZcVM3mthCZnMUN+0Ww8GiW8uLM0FfwpUsRLdrb7+16XOHqmFhShk2XCWaWTqS9NRJzmVF7+Z312fVzOWxT1e6oOanddfTPAR7r96dPwe1VrJuSTUMGlVIztqOBJjPGR4tT9lDekE0krDkTQf3QzaSlyjWVaJ/NwRdhstg=="
	vecTimestamp    = 1624523846
	vecNonce        = "A1B2C3D4E5F6G7"
)

// vecVerifier holds the vector key both ways: as a PUB_KEY_ID_ public key
// and as the two SDK certificates, which carry the same public key.
func vecVerifier(t testing.TB) *Verifier {
	t.Helper()
	pub, err := ParsePublicKey(readTestdata(t, "wechatpay_public_key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	var v Verifier
	if err := v.AddPublicKey(testPubKeyID, pub); err != nil {
		t.Fatal(err)
	}
	err = v.SetCertificates([]PlatformCertificate{
		testPlatformCert(t, "cert_F5765756002FDD77.pem"),
		testPlatformCert(t, "cert_D7CE59D1F522D701.pem"),
	})
	if err != nil {
		t.Fatal(err)
	}
	return &v
}

// TestVectorSignSource: our Sign reproduces the SDK's signature of
// "source", and our verifier accepts it under each of the three ids and
// refuses the SDK's negative cases.
func TestVectorSignSource(t *testing.T) {
	sig, err := Sign(testKey(t), []byte("source"))
	if err != nil {
		t.Fatal(err)
	}
	if sig != vecSourceSignature {
		t.Fatalf("Sign(source) =\n%s\nwant\n%s", sig, vecSourceSignature)
	}
	v := vecVerifier(t)
	for _, serial := range []string{testPubKeyID, "F5765756002FDD77", "D7CE59D1F522D701"} {
		if err := v.VerifyMessage(serial, []byte("source"), vecSourceSignature); err != nil {
			t.Errorf("serial %s: %v", serial, err)
		}
	}
	neg := []struct {
		name, serial, msg, sig string
		want                   Reason
	}{
		{"wrong source", testMchSerial, "wrong source", vecSourceSignature, ReasonBadSignature},
		{"empty message", testMchSerial, "", vecSourceSignature, ReasonBadSignature},
		{"empty signature", testMchSerial, "source", "", ReasonBadSignature},
		{"non-base64 signature", testMchSerial, "source", "invalid base64 signature", ReasonBadSignature},
		{"empty serial", "", "source", vecSourceSignature, ReasonUnknownSerial},
		{"unknown serial", "invalid serial number", "source", vecSourceSignature, ReasonUnknownSerial},
		{"lowercase serial", "f5765756002fdd77", "source", vecSourceSignature, ReasonUnknownSerial},
		{"public key id without prefix", "0112345678202401010000000000000001", "source", vecSourceSignature, ReasonUnknownSerial},
	}
	for _, c := range neg {
		err := v.VerifyMessage(c.serial, []byte(c.msg), c.sig)
		if got := reasonOf(err); got != c.want {
			t.Errorf("%s: reason %v (err %v), want %v", c.name, got, err, c.want)
		}
	}
}

// TestVectorAESGCM: the SDK's AES-GCM vector decrypts to "Hello World",
// and its four negative cases fail as DecryptErrors.
func TestVectorAESGCM(t *testing.T) {
	r := Resource{Algorithm: AlgorithmAEADAES256GCM, Ciphertext: vecAESCiphertext, AssociatedData: vecAESAAD, Nonce: vecAESNonce}
	plain, err := DecryptResource([]byte(vecAESKey), r)
	if err != nil {
		t.Fatal(err)
	}
	if string(plain) != "Hello World" {
		t.Fatalf("plaintext %q", plain)
	}
	neg := map[string]struct {
		key string
		r   Resource
	}{
		"invalid base64 ciphertext": {vecAESKey, Resource{Algorithm: r.Algorithm, Ciphertext: "invalid cipher", AssociatedData: r.AssociatedData, Nonce: r.Nonce}},
		"invalid ciphertext":        {vecAESKey, Resource{Algorithm: r.Algorithm, Ciphertext: "SGVsbG8gV29ybGQK", AssociatedData: r.AssociatedData, Nonce: r.Nonce}},
		"invalid aes key":           {"not a aes key", r},
		"wrong aes key":             {"testAPIv3Key1111", r},
	}
	for name, c := range neg {
		_, err := DecryptResource([]byte(c.key), c.r)
		var de *DecryptError
		if !errors.As(err, &de) {
			t.Errorf("%s: err %v, want *DecryptError", name, err)
		}
		assertNoLeak(t, err, c.key, vecAESNonce, vecAESAAD)
	}
}

func vecNotifyHeader() http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set(HeaderNonce, vecNotifyNonce)
	h.Set(HeaderTimestamp, vecNotifyTimestamp)
	h.Set(HeaderSerial, testNotifyCert)
	h.Set(HeaderSignature, vecNotifySignature)
	return h
}

// TestVectorNotification: the SDK's signed and encrypted notification
// verifies with the test certificate at its own time, decrypts with
// testMchAPIv3Key0, and yields exactly the published plaintext.
func TestVectorNotification(t *testing.T) {
	var v Verifier
	if err := v.SetCertificates([]PlatformCertificate{testPlatformCert(t, "cert_D7CE59D1F522D701.pem")}); err != nil {
		t.Fatal(err)
	}
	n, plain, err := OpenNotification(vecNotifyHeader(), []byte(vecNotifyBody), &v, []byte(vecNotifyKey), time.Unix(vecTimestamp, 0))
	if err != nil {
		t.Fatal(err)
	}
	if string(plain) != vecNotifyPlain {
		t.Errorf("plaintext\n%s\nwant\n%s", plain, vecNotifyPlain)
	}
	want := Notification{
		ID: "3119dfba-e649-5eec-ab1e-3412bc4d2e17", CreateTime: "2021-06-24T16:37:26+08:00",
		EventType: "PAYSCORE.USER_OPEN_SERVICE", ResourceType: "encrypt-resource", Summary: "签约成功",
	}
	got := *n
	got.Resource = Resource{}
	if got != want {
		t.Errorf("envelope %+v\nwant %+v", got, want)
	}
	if n.Resource.OriginalType != "payscore" || n.Resource.AssociatedData != "payscore" || n.Resource.Algorithm != AlgorithmAEADAES256GCM {
		t.Errorf("resource %+v", n.Resource)
	}
}

// TestVectorPaySign: the paySign of WeChat's own wx.requestPayment
// example message, and the JSON names the mini program expects.
func TestVectorPaySign(t *testing.T) {
	p, err := testMerchant(t).RequestPaymentAt("wx8888888888888888", "wx201410272009395522657a690389285100", 1414561699, "5K8264ILTKCH16CQ2502SI8ZNMTM67VS")
	if err != nil {
		t.Fatal(err)
	}
	msg := "wx8888888888888888\n1414561699\n5K8264ILTKCH16CQ2502SI8ZNMTM67VS\nprepay_id=wx201410272009395522657a690389285100\n"
	if got := string(PaySignMessage("wx8888888888888888", p.TimeStamp, p.NonceStr, p.Package)); got != msg {
		t.Errorf("message %q", got)
	}
	if p.PaySign != vecPaySign {
		t.Errorf("paySign\n%s\nwant\n%s", p.PaySign, vecPaySign)
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"timeStamp":"1414561699","nonceStr":"5K8264ILTKCH16CQ2502SI8ZNMTM67VS","package":"prepay_id=wx201410272009395522657a690389285100","signType":"RSA","paySign":"` + vecPaySign + `"}`
	if string(b) != want {
		t.Errorf("JSON\n%s\nwant\n%s", b, want)
	}
	if err := VerifyPaySign(&testKey(t).PublicKey, "wx8888888888888888", p); err != nil {
		t.Error(err)
	}
	if err := VerifyPaySign(&testKey(t).PublicKey, "wx8888888888888889", p); err == nil {
		t.Error("paySign verified for another appid")
	}
}

// TestVectorJSAPIAuthorization: the whole Authorization header of a JSAPI
// prepay, byte for byte, parameters in the documented order.
func TestVectorJSAPIAuthorization(t *testing.T) {
	got, err := testMerchant(t).AuthorizationAt("POST", "/v3/pay/transactions/jsapi", []byte(vecJSAPIBody), vecTimestamp, vecNonce)
	if err != nil {
		t.Fatal(err)
	}
	if got != vecJSAPIAuth {
		t.Fatalf("Authorization\n%s\nwant\n%s", got, vecJSAPIAuth)
	}
	// A body that differs only in spacing is another message.
	spaced := bytes.Replace([]byte(vecJSAPIBody), []byte(`":`), []byte(`": `), 1)
	other, err := testMerchant(t).AuthorizationAt("POST", "/v3/pay/transactions/jsapi", spaced, vecTimestamp, vecNonce)
	if err != nil {
		t.Fatal(err)
	}
	if other == vecJSAPIAuth {
		t.Fatal("re-spaced body gave the same signature")
	}
}

// TestVectorGETSignature: a GET signs the query and an empty body line.
func TestVectorGETSignature(t *testing.T) {
	got, err := testMerchant(t).AuthorizationAt("GET", vecGETPath, nil, vecTimestamp, vecNonce)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParseAuthorization(got)
	if err != nil {
		t.Fatal(err)
	}
	if p.Signature != vecGETSignature {
		t.Fatalf("signature\n%s\nwant\n%s", p.Signature, vecGETSignature)
	}
	want := "GET\n" + vecGETPath + "\n1624523846\nA1B2C3D4E5F6G7\n\n"
	if m := string(RequestMessage("GET", vecGETPath, "1624523846", vecNonce, nil)); m != want {
		t.Errorf("message %q", m)
	}
}
