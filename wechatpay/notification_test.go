package wechatpay

import (
	"bytes"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// simulateNotification builds a notification as WeChat Pay's simulator
// would: plaintext sealed under key, envelope signed by signKey as serial.
func simulateNotification(t *testing.T, key []byte, plaintext string, serial string, signKey *rsa.PrivateKey, ts int64) (http.Header, []byte) {
	t.Helper()
	r, err := EncryptResource(key, []byte(plaintext), "transaction", "transaction")
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(Notification{
		ID: "EV-2018022511223320873", CreateTime: "2015-05-20T13:29:35+08:00", ResourceType: "encrypt-resource",
		EventType: "TRANSACTION.SUCCESS", Summary: "支付成功", Resource: r,
	})
	if err != nil {
		t.Fatal(err)
	}
	return signedHeader(t, signKey, serial, body, ts), body
}

// class is how the Caddy side will answer a failure: 401 for anything
// that is not proven to come from WeChat Pay, 400 for a signed body that
// cannot be used.
func class(err error) int {
	var ve *VerifyError
	var de *DecryptError
	var fe *FormatError
	switch {
	case err == nil:
		return 200
	case errors.As(err, &ve):
		return 401
	case errors.As(err, &de), errors.As(err, &fe):
		return 400
	}
	return 500
}

// TestOpenNotificationClasses: every way a notification can fail lands in
// the class the handler needs, and the plaintext comes back byte for
// byte when nothing fails.
func TestOpenNotificationClasses(t *testing.T) {
	key := []byte(testAPIv3Key)
	wxKey := generatedKey(t, 0)
	var v Verifier
	if err := v.AddPublicKey(testPubKeyID, &wxKey.PublicKey); err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1700000000, 0)
	plain := `{"mchid":"1230000109","out_trade_no":"1217752501201407033233368018","trade_state":"SUCCESS","amount":{"total":100}}`

	h, body := simulateNotification(t, key, plain, testPubKeyID, wxKey, now.Unix())
	n, got, err := OpenNotification(h, body, &v, key, now)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != plain || n.EventType != "TRANSACTION.SUCCESS" || n.ID != "EV-2018022511223320873" {
		t.Fatalf("opened %q %+v", got, n)
	}

	otherKeyH, otherKeyBody := simulateNotification(t, []byte("ffffffffffffffffffffffffffffffff"), plain, testPubKeyID, wxKey, now.Unix())
	signedGarbage := []byte(`{"id":"x","resource":`)
	wrongAlgBody := bytes.Replace(body, []byte(AlgorithmAEADAES256GCM), []byte("AEAD_AES_128_GCM"), 1)
	noResource := []byte(`{"id":"EV-1","event_type":"TRANSACTION.SUCCESS"}`)
	notObject := []byte(`["id"]`)
	sign := func(b []byte) http.Header { return signedHeader(t, wxKey, testPubKeyID, b, now.Unix()) }
	tampered := bytes.Replace(body, []byte("TRANSACTION.SUCCESS"), []byte("TRANSACTION.REFUNDS"), 1)

	cases := []struct {
		name   string
		h      http.Header
		body   []byte
		status int
		reason Reason
	}{
		{"encrypted under another APIv3 key", otherKeyH, otherKeyBody, 400, 0},
		{"signed, not JSON", sign(signedGarbage), signedGarbage, 400, 0},
		{"signed, other algorithm", sign(wrongAlgBody), wrongAlgBody, 400, 0},
		{"signed, no resource", sign(noResource), noResource, 400, 0},
		{"signed, not an object", sign(notObject), notObject, 400, 0},
		{"tampered after signing", h, tampered, 401, ReasonBadSignature},
		{"unsigned garbage", http.Header{}, signedGarbage, 401, ReasonMissingHeader},
		{"signed by an unknown serial", signedHeader(t, wxKey, "PUB_KEY_ID_OTHER", body, now.Unix()), body, 401, ReasonUnknownSerial},
		{"stale", signedHeader(t, wxKey, testPubKeyID, body, now.Unix()-301), body, 401, ReasonStaleTimestamp},
		{"from the future", signedHeader(t, wxKey, testPubKeyID, body, now.Unix()+301), body, 401, ReasonStaleTimestamp},
	}
	for _, c := range cases {
		n, got, err := OpenNotification(c.h, c.body, &v, key, now)
		if s := class(err); s != c.status {
			t.Errorf("%s: class %d (%v), want %d", c.name, s, err, c.status)
		}
		if c.reason != 0 && reasonOf(err) != c.reason {
			t.Errorf("%s: reason %v, want %v", c.name, reasonOf(err), c.reason)
		}
		if n != nil || got != nil {
			t.Errorf("%s: returned data with an error", c.name)
		}
		assertNoLeak(t, err, testAPIv3Key, "1217752501201407033233368018")
	}
}

// TestOpenNotificationVerifiesFirst: a body that is not even JSON but
// carries no valid signature is a 401, never a 400: nothing is parsed
// before the signature is checked.
func TestOpenNotificationVerifiesFirst(t *testing.T) {
	_, _, err := OpenNotification(vecNotifyHeader(), []byte("not json"), vecVerifier(t), []byte(vecNotifyKey), vecNow)
	if class(err) != 401 {
		t.Fatalf("%v", err)
	}
}

// TestParseNotificationCap: a body above MaxNotificationBytes is refused.
func TestParseNotificationCap(t *testing.T) {
	big := `{"id":"x","resource":{"ciphertext":"` + strings.Repeat("A", MaxNotificationBytes) + `"}}`
	if _, err := ParseNotification([]byte(big)); class(err) != 400 {
		t.Fatalf("%v", err)
	}
	if _, err := ParseNotification([]byte(vecNotifyBody)); err != nil {
		t.Fatal(err)
	}
}
