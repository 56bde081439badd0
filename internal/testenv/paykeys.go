package testenv

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// WeChat Pay fixtures. The APIv3 keys are 32 bytes, as real ones are.
const (
	PayMchID         = "1900000001"
	PayMchID2        = "1900000002"
	PayMchSerial     = "3775B6A45ACD588826D15E583A95F5DD00000000"
	PayPubKeyID      = "PUB_KEY_ID_0114232134912410000000000000"
	PayAPIv3Key      = "testenv-apiv3-key-0123456789abcd"
	PayOtherAPIv3Key = "another-apiv3-key-0123456789abcd"
	PayNotifyPath    = "/pay/notify"
)

// PayKeys are the RSA keys of the pay tests, made once per test binary
// (2048-bit generation takes a while): the merchant's API key, WeChat
// Pay's key (the fake's and the simulator's), another key that nobody
// trusts, and a second platform key for certificate rotation.
type PayKeys struct {
	Merchant, WeChat, Other, Rotated *rsa.PrivateKey
	// Cert holds WeChat's key, RotatedCert the rotated one; OtherCert
	// holds Other, under a serial nobody trusts.
	Cert, RotatedCert, OtherCert                   *x509.Certificate
	CertSerial, RotatedCertSerial, OtherCertSerial string
}

var (
	payKeysOnce sync.Once
	payKeys     *PayKeys
)

// Keys returns the pay tests' keys.
func Keys(t testing.TB) *PayKeys {
	t.Helper()
	payKeysOnce.Do(func() {
		k := &PayKeys{}
		for _, p := range []**rsa.PrivateKey{&k.Merchant, &k.WeChat, &k.Other, &k.Rotated} {
			key, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			*p = key
		}
		k.Cert, k.CertSerial = platformCert(k.WeChat, "5157F09EFDC096DE15EBE81A47057A7232F19D0B")
		k.RotatedCert, k.RotatedCertSerial = platformCert(k.Rotated, "6F1A2B3C4D5E6F708192A3B4C5D6E7F8091A2B3C")
		k.OtherCert, k.OtherCertSerial = platformCert(k.Other, "7A0B0C0D0E0F10111213141516171819202122AB")
		payKeys = k
	})
	return payKeys
}

// platformCert makes a self-signed certificate of key with the serial
// given in hex, valid for a year around now.
func platformCert(key *rsa.PrivateKey, serialHex string) (*x509.Certificate, string) {
	n, _ := new(big.Int).SetString(serialHex, 16)
	tmpl := &x509.Certificate{
		SerialNumber: n,
		Subject:      pkix.Name{CommonName: "Tenpay.com Root CA (testenv)"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(365 * 24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		panic(err)
	}
	return c, strings.ToUpper(hex.EncodeToString(c.SerialNumber.Bytes()))
}

// PayFiles are the PEM files a pay config names with {file.*}.
type PayFiles struct {
	MerchantKey string // the merchant's private key
	WeChatKey   string // WeChat Pay's private key, for the simulator
	WeChatPub   string // its public key, the merchant's public_key
	OtherPub    string // a public key nobody signs with
}

// WritePayFiles writes the keys into a directory of the test's own.
func WritePayFiles(t testing.TB) PayFiles {
	t.Helper()
	k := Keys(t)
	dir := t.TempDir()
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pkcs8 := func(key *rsa.PrivateKey) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	pkix := func(key *rsa.PrivateKey) []byte {
		der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	return PayFiles{
		MerchantKey: write("apiclient_key.pem", "PRIVATE KEY", pkcs8(k.Merchant)),
		WeChatKey:   write("wechatpay_key.pem", "PRIVATE KEY", pkcs8(k.WeChat)),
		WeChatPub:   write("pub_key.pem", "PUBLIC KEY", pkix(k.WeChat)),
		OtherPub:    write("other_pub_key.pem", "PUBLIC KEY", pkix(k.Other)),
	}
}

// PrivateKeyPEMLines are the base64 lines of a key's PEM, for searching
// logs and answers for any part of it.
func PrivateKeyPEMLines(t testing.TB, key *rsa.PrivateKey) []string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), "\n") {
		if len(l) == 64 {
			lines = append(lines, l)
		}
	}
	return lines
}
