package wechatpay

import (
	"testing"
	"time"
)

// The per-call costs at the edge: signing a request and a paySign (one
// RSA-2048 private-key operation each), and opening a notification (one
// public-key verification and one AES-GCM open).

func BenchmarkAuthorization(b *testing.B) {
	m := testMerchant(b)
	body := []byte(vecJSAPIBody)
	for b.Loop() {
		if _, err := m.Authorization("POST", "/v3/pay/transactions/jsapi", body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRequestPayment(b *testing.B) {
	m := testMerchant(b)
	for b.Loop() {
		if _, err := m.RequestPayment("wx4f4bc4dec97d474b", "wx201410272009395522657a690389285100"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpenNotification(b *testing.B) {
	var v Verifier
	if err := v.SetCertificates([]PlatformCertificate{testPlatformCert(b, "cert_D7CE59D1F522D701.pem")}); err != nil {
		b.Fatal(err)
	}
	h, body, key, now := vecNotifyHeader(), []byte(vecNotifyBody), []byte(vecNotifyKey), time.Unix(vecTimestamp, 0)
	for b.Loop() {
		if _, _, err := OpenNotification(h, body, &v, key, now); err != nil {
			b.Fatal(err)
		}
	}
}
