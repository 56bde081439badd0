package wechatpay

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The SDK's identities for its test key.
const (
	testMchID      = "1234567890"
	testMchSerial  = "F5765756002FDD77" // the merchant certificate serial the SDK signs with
	testNotifyCert = "D7CE59D1F522D701" // serial of cert_D7CE59D1F522D701.pem
	testPubKeyID   = "PUB_KEY_ID_0112345678202401010000000000000001"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testKeyPEM is the SDK's test key with its "TESTING KEY" label replaced,
// as the SDK's own tests do; only tests ever see that label.
func testKeyPEM(t testing.TB) []byte {
	return []byte(strings.ReplaceAll(string(readTestdata(t, "merchant_key.testing.pem")), "TESTING KEY", "PRIVATE KEY"))
}

func testKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := ParsePrivateKey(testKeyPEM(t))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testMerchant(t testing.TB) Merchant {
	return Merchant{MchID: testMchID, Serial: testMchSerial, Key: testKey(t)}
}

func testCert(t testing.TB, name string) *x509.Certificate {
	t.Helper()
	c, err := ParseCertificate(readTestdata(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func testPlatformCert(t testing.TB, name string) PlatformCertificate {
	t.Helper()
	pc, err := NewPlatformCertificate(testCert(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return pc
}

// A generated key stands for WeChat Pay's own key in the client tests,
// so that the merchant key and the platform key differ there. It is made
// once: 2048-bit generation is slow under -race.
var (
	genOnce sync.Once
	genKeys [2]*rsa.PrivateKey
)

func generatedKey(t testing.TB, i int) *rsa.PrivateKey {
	t.Helper()
	genOnce.Do(func() {
		for j := range genKeys {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			genKeys[j] = k
		}
	})
	return genKeys[i]
}

// selfSigned makes a platform-like certificate for key, with the given
// serial and validity window.
func selfSigned(t testing.TB, key *rsa.PrivateKey, serial string, notBefore, notAfter time.Time) *x509.Certificate {
	t.Helper()
	n, ok := new(big.Int).SetString(serial, 16)
	if !ok {
		t.Fatalf("bad serial %q", serial)
	}
	tmpl := &x509.Certificate{
		SerialNumber: n,
		Subject:      pkix.Name{CommonName: "Tenpay.com Root CA test"},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// assertNoLeak fails if err's text contains any of the secrets.
func assertNoLeak(t *testing.T, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		return
	}
	msg := err.Error()
	for _, s := range secrets {
		if s != "" && strings.Contains(msg, s) {
			t.Errorf("error text leaks %.20q…: %s", s, msg)
		}
	}
}

// reasonOf returns the Reason of a *VerifyError in err's chain, or 0.
func reasonOf(err error) Reason {
	var ve *VerifyError
	if errors.As(err, &ve) {
		return ve.Reason
	}
	return 0
}
