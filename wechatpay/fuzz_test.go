package wechatpay

import (
	"bytes"
	"crypto/x509"
	"errors"
	"net/http"
	"testing"
)

// Every fuzz input is handled by pure functions (no network, no clock):
// one RSA verification and one AES-GCM open at most, so each input takes
// well under a millisecond.

// FuzzOpenNotification feeds arbitrary headers and bodies to
// OpenNotification with the vector keys at the vector time. It must not
// panic, every failure must fall in the 401 or the 400 class, and the
// only input that may succeed is the genuine vector notification: any
// other success would be a forgery.
func FuzzOpenNotification(f *testing.F) {
	f.Add(testNotifyCert, vecNotifyTimestamp, vecNotifyNonce, vecNotifySignature, []byte(vecNotifyBody))
	f.Add(testNotifyCert, vecNotifyTimestamp, vecNotifyNonce, vecNotifySignature, []byte(vecNotifyBody+" "))
	f.Add(testPubKeyID, "1624523000", vecNotifyNonce, vecNotifySignature, []byte(vecNotifyBody))
	f.Add("", "", "", "", []byte(nil))
	f.Add(testNotifyCert, "+1624523846", "n", "!!", []byte(`{"id":"1","resource":{"ciphertext":"AAAA"}}`))
	v := vecVerifier(f)
	key := []byte(vecNotifyKey)
	f.Fuzz(func(t *testing.T, serial, ts, nonce, sig string, body []byte) {
		h := http.Header{}
		h.Set(HeaderSerial, serial)
		h.Set(HeaderTimestamp, ts)
		h.Set(HeaderNonce, nonce)
		h.Set(HeaderSignature, sig)
		n, plain, err := OpenNotification(h, body, v, key, vecNow)
		if err != nil {
			if n != nil || plain != nil {
				t.Fatal("data returned with an error")
			}
			if c := class(err); c != 401 && c != 400 {
				t.Fatalf("error outside the two classes: %T %v", err, err)
			}
			return
		}
		if !bytes.Equal(body, []byte(vecNotifyBody)) || string(plain) != vecNotifyPlain || sig != vecNotifySignature {
			t.Fatalf("accepted a notification that is not the signed vector: %q", body)
		}
	})
}

// FuzzParseAuthorization: ParseAuthorization never panics, fails only
// with a *VerifyError, and what it accepts formats back to a header that
// parses to the same parameters, with no value able to break the quoting.
func FuzzParseAuthorization(f *testing.F) {
	f.Add(vecJSAPIAuth)
	f.Add(`WECHATPAY2-SHA256-RSA2048 mchid="1",nonce_str="2",timestamp="3",serial_no="4",signature="5"`)
	f.Add(`WECHATPAY2-SHA256-RSA2048 mchid="1", nonce_str="2",mchid="1"`)
	f.Add(`WECHATPAY2-SHA256-RSA2048 `)
	f.Add(`Bearer x`)
	f.Fuzz(func(t *testing.T, header string) {
		p, err := ParseAuthorization(header)
		if err != nil {
			var ve *VerifyError
			if !errors.As(err, &ve) {
				t.Fatalf("%T %v", err, err)
			}
			return
		}
		for _, s := range []string{p.MchID, p.Nonce, p.Timestamp, p.Serial, p.Signature} {
			if s == "" || !safeField(s) {
				t.Fatalf("accepted unsafe value %q", s)
			}
		}
		q, err := ParseAuthorization(p.String())
		if err != nil || q != p {
			t.Fatalf("round trip: %+v -> %+v (%v)", p, q, err)
		}
	})
}

// FuzzDecodeCertificates: DecodeCertificates never panics on any body,
// fails only with a *FormatError or a *DecryptError, and returns only
// certificates that are valid now and carry a key.
func FuzzDecodeCertificates(f *testing.F) {
	good, err := EncodeCertificates([]*x509.Certificate{testCert(f, "cert_D7CE59D1F522D701.pem")}, []byte(testAPIv3Key))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{"data":[{"serial_no":"AB","encrypt_certificate":{"algorithm":"AEAD_AES_256_GCM","nonce":"000000000000","ciphertext":"AAAAAAAAAAAAAAAAAAAAAA=="}}]}`))
	f.Add([]byte(`{"data":[]}`))
	f.Add([]byte(`null`))
	key := []byte(testAPIv3Key)
	f.Fuzz(func(t *testing.T, body []byte) {
		certs, err := DecodeCertificates(body, key, vecNow)
		if err != nil {
			if c := class(err); c != 400 {
				t.Fatalf("%T %v", err, err)
			}
			return
		}
		for _, c := range certs {
			if c.Serial == "" || c.PublicKey == nil || !c.ValidAt(vecNow) {
				t.Fatalf("bad certificate returned: %+v", c)
			}
		}
	})
}
