package integration

import (
	"crypto/x509"
	"net/http"
	"testing"
	"time"

	. "github.com/caddy-wechat/caddy-wechat/internal/testenv"
)

// TestPayBothKeyModes: a merchant with a public key and platform
// certificates accepts notifications and answers signed under either, as
// WeChat Pay sends during its migration; a merchant with only one mode
// refuses the other's serial.
func TestPayBothKeyModes(t *testing.T) {
	wx := NewFakePay(t)
	backend := NewNotifyBackend(t)
	files := WritePayFiles(t)
	k := Keys(t)
	StartCaddy(t, PayConfig(PaySetup{APIBase: wx.URL, Files: files, Backend: backend.URL, Keys: []string{files.PublicKey(), PayCertMode}}))

	for i, serial := range []string{PayPubKeyID, k.CertSerial, PayPubKeyID, k.CertSerial} {
		n := NewTransactionNotification(t, uniqueID("both"), "ORDER0030")
		n.Serial = serial
		b := n.Body(t)
		if st, ans := notify(t, n.Sign(b), b); st != 204 {
			t.Fatalf("notification %d under %s: %d %v", i, serial, st, ans)
		}
		wx.Set(func(f *FakePay) { f.Serial = serial })
		if st, _, raw := payCall(t, "POST", "/v3/pay/transactions/jsapi", nil, prepayBody); st != 200 {
			t.Fatalf("answer %d under %s: %d %s", i, serial, st, raw)
		}
	}
	backend.WaitCalls(t, 4)

	// Public key only: a certificate serial is unknown, and nothing is
	// downloaded to look for it.
	StartCaddy(t, PayConfig(PaySetup{APIBase: wx.URL, Files: files, Backend: backend.URL}))
	fetches := wx.Fetches()
	n := NewTransactionNotification(t, uniqueID("pubonly"), "ORDER0031")
	n.Serial = k.CertSerial
	b := n.Body(t)
	if st, _ := notify(t, n.Sign(b), b); st != 401 {
		t.Fatalf("certificate serial, public key mode: %d", st)
	}
	if wx.Fetches() != fetches {
		t.Fatal("a merchant without platform_certificates downloaded them")
	}

	// Certificates only: the public key id is unknown.
	StartCaddy(t, PayConfig(PaySetup{APIBase: wx.URL, Files: files, Backend: backend.URL, Keys: []string{PayCertMode}}))
	n = NewTransactionNotification(t, uniqueID("certonly"), "ORDER0032")
	b = n.Body(t)
	if st, _ := notify(t, n.Sign(b), b); st != 401 {
		t.Fatalf("public key id, certificate mode: %d", st)
	}
	n.Serial = k.CertSerial
	if st, ans := notify(t, n.Sign(b), b); st != 204 {
		t.Fatalf("certificate serial, certificate mode: %d %v", st, ans)
	}
}

// TestPayCertificateRotation: certificates are downloaded at start and
// opened with the APIv3 key; when WeChat Pay signs under a certificate
// it has just published, the edge downloads them again and accepts it;
// serials that no download brings cause at most one download per 30 s.
func TestPayCertificateRotation(t *testing.T) {
	wx := NewFakePay(t)
	backend := NewNotifyBackend(t)
	k := Keys(t)
	StartCaddy(t, PayConfig(PaySetup{APIBase: wx.URL, Files: WritePayFiles(t), Backend: backend.URL, Keys: []string{PayCertMode}}))
	waitFor(t, "the first download", func() bool { return wx.Fetches() >= 1 })

	n := NewTransactionNotification(t, uniqueID("rotation-a"), "ORDER0040")
	n.Serial = k.CertSerial
	b := n.Body(t)
	if st, ans := notify(t, n.Sign(b), b); st != 204 {
		t.Fatalf("under the downloaded certificate: %d %v", st, ans)
	}
	if f := wx.Fetches(); f != 1 {
		t.Fatalf("%d downloads before any rotation, want 1", f)
	}
	for _, r := range wx.Received() {
		if r.URI == "/v3/certificates" && !r.AuthOK {
			t.Fatal("the certificates download was not signed as the merchant")
		}
	}

	// WeChat Pay publishes a new certificate and signs with it.
	wx.Set(func(f *FakePay) { f.Certs = []*x509.Certificate{k.Cert, k.RotatedCert} })
	n = NewTransactionNotification(t, uniqueID("rotation-b"), "ORDER0041")
	n.Serial, n.Key = k.RotatedCertSerial, k.Rotated
	b = n.Body(t)
	if st, ans := notify(t, n.Sign(b), b); st != 204 {
		t.Fatalf("under the rotated certificate: %d %v", st, ans)
	}
	if f := wx.Fetches(); f != 2 {
		t.Fatalf("%d downloads after the rotation, want 2", f)
	}
	// The answers follow too.
	wx.Set(func(f *FakePay) { f.Serial = k.RotatedCertSerial })
	if st, _, raw := payCall(t, "GET", "/v3/pay/transactions/out-trade-no/ORDER0041", nil, ""); st != 200 {
		t.Fatalf("answer under the rotated certificate: %d %s", st, raw)
	}

	// A forger's serials: refused, with no download within the spacing.
	for _, serial := range []string{"ABCDEF0123456789", "0123456789ABCDEF0123"} {
		n = NewTransactionNotification(t, uniqueID("rotation-forged"), "ORDER0042")
		n.Serial = serial
		b = n.Body(t)
		if st, _ := notify(t, n.Sign(b), b); st != 401 {
			t.Fatalf("unknown serial %s: %d", serial, st)
		}
	}
	if f := wx.Fetches(); f != 2 {
		t.Fatalf("%d downloads after forged serials, want still 2", f)
	}
	backend.WaitCalls(t, 2)
}

// TestPayCertificateRefresherStops: a failing download is retried in the
// background with a growing wait, and the retrying stops when the config
// is replaced (Stop and Cleanup end it).
func TestPayCertificateRefresherStops(t *testing.T) {
	wx := NewFakePay(t)
	wx.Set(func(f *FakePay) { f.CertStatus = http.StatusInternalServerError })
	files := WritePayFiles(t)
	StartCaddy(t, PayConfig(PaySetup{APIBase: wx.URL, Files: files, Keys: []string{PayCertMode}}))
	waitFor(t, "a retried download", func() bool { return wx.Fetches() >= 2 })

	// Until a download succeeds, nothing verifies: a 502, not a pass.
	if st, _, raw := payCall(t, "GET", "/v3/pay/transactions/out-trade-no/ORDER0050", nil, ""); st != 502 {
		t.Fatalf("with no certificate: %d %s", st, raw)
	}

	StartCaddy(t, PayConfig(PaySetup{APIBase: wx.URL, Files: files}))
	settled := wx.Fetches()
	time.Sleep(2500 * time.Millisecond)
	if f := wx.Fetches(); f != settled {
		t.Fatalf("%d downloads after the config without certificates replaced it, want %d: the old refresher still runs", f, settled)
	}
}
