package wechatpay

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
	"testing"
	"time"
)

// pemBodyLines returns the base64 lines of a PEM text: what an error
// must never quote.
func pemBodyLines(p []byte) []string {
	var out []string
	for _, l := range strings.Split(string(p), "\n") {
		if l != "" && !strings.HasPrefix(l, "-----") {
			out = append(out, l)
		}
	}
	return out
}

// TestParsePrivateKey: PKCS#8 and PKCS#1 both give the test key; every
// other shape is refused with an error that quotes no key material.
func TestParsePrivateKey(t *testing.T) {
	key := testKey(t)
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	k1, err := ParsePrivateKey(pkcs1)
	if err != nil {
		t.Fatalf("PKCS#1: %v", err)
	}
	if !k1.Equal(key) {
		t.Fatal("PKCS#1 gave another key")
	}

	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	smallDER, _ := x509.MarshalPKCS8PrivateKey(small)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ec)
	raw := readTestdata(t, "merchant_key.testing.pem")
	good := testKeyPEM(t)
	encrypted := strings.Replace(string(pkcs1), "-----BEGIN RSA PRIVATE KEY-----\n",
		"-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00112233445566778899AABBCCDDEEFF\n\n", 1)
	corrupt := strings.Replace(string(good), pemBodyLines(good)[3], strings.Repeat("A", 64), 1)

	bad := map[string][]byte{
		"SDK TESTING KEY label":  raw,
		"empty":                  nil,
		"not PEM":                []byte("MIIEvgIBADANBgkqhkiG9w0BAQEFAASC"),
		"public key":             readTestdata(t, "wechatpay_public_key.pem"),
		"certificate":            readTestdata(t, "cert_D7CE59D1F522D701.pem"),
		"two blocks":             append(append([]byte{}, good...), readTestdata(t, "cert_D7CE59D1F522D701.pem")...),
		"encrypted PKCS#1":       []byte(encrypted),
		"1024-bit key":           pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: smallDER}),
		"EC key":                 pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER}),
		"corrupt DER":            []byte(corrupt),
		"PKCS#1 labelled PKCS#8": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}),
	}
	for name, in := range bad {
		_, err := ParsePrivateKey(in)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		assertNoLeak(t, err, pemBodyLines(good)...)
		assertNoLeak(t, err, key.D.String()[:20], key.N.String()[:20])
	}
	if _, err := ParsePrivateKey(raw); err == nil || !strings.Contains(err.Error(), `"TESTING KEY"`) {
		t.Errorf("TESTING KEY error should name the label: %v", err)
	}
}

// TestParsePublicKey: PKIX and PKCS#1 public keys parse to the test key's
// public half; a certificate is refused with a hint.
func TestParsePublicKey(t *testing.T) {
	want := &testKey(t).PublicKey
	pub, err := ParsePublicKey(readTestdata(t, "wechatpay_public_key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if !pub.Equal(want) {
		t.Fatal("public key is not the test key's")
	}
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(want)})
	if p, err := ParsePublicKey(pkcs1); err != nil || !p.Equal(want) {
		t.Fatalf("PKCS#1 public key: %v", err)
	}
	_, err = ParsePublicKey(readTestdata(t, "cert_D7CE59D1F522D701.pem"))
	if err == nil || !strings.Contains(err.Error(), "platform certificate") {
		t.Errorf("certificate as public key: %v", err)
	}
	if _, err := ParsePublicKey(testKeyPEM(t)); err == nil {
		t.Error("private key accepted as public key")
	} else {
		assertNoLeak(t, err, pemBodyLines(testKeyPEM(t))...)
	}
}

// TestParseCertificateAndSerial: both SDK certificates parse, hold the
// test key, and their serials print as WeChat Pay writes them, leading
// zero bytes included.
func TestParseCertificateAndSerial(t *testing.T) {
	for _, serial := range []string{"D7CE59D1F522D701", "F5765756002FDD77"} {
		c := testCert(t, "cert_"+serial+".pem")
		if got := CertificateSerial(c); got != serial {
			t.Errorf("serial %s, want %s", got, serial)
		}
		if !c.PublicKey.(*rsa.PublicKey).Equal(&testKey(t).PublicKey) {
			t.Errorf("%s does not hold the test key", serial)
		}
	}
	now := time.Now()
	c := selfSigned(t, generatedKey(t, 0), "0ABC00", now.Add(-time.Hour), now.Add(time.Hour))
	if got := CertificateSerial(c); got != "0ABC00" {
		t.Errorf("serial with a leading zero nibble printed as %s", got)
	}
	if _, err := ParseCertificate(readTestdata(t, "wechatpay_public_key.pem")); err == nil {
		t.Error("public key accepted as certificate")
	}
	if CertificateSerial(nil) != "" {
		t.Error("nil certificate has a serial")
	}
}

// TestCheckAPIv3Key: only 32 bytes pass, and the error gives the length
// but not the key.
func TestCheckAPIv3Key(t *testing.T) {
	if err := CheckAPIv3Key([]byte("0123456789abcdef0123456789abcdef")); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"testMchAPIv3Key0", "0123456789abcdef0123456789abcde", "0123456789abcdef0123456789abcdef0", ""} {
		err := CheckAPIv3Key([]byte(k))
		want := fmt.Sprintf("must be exactly 32 bytes, got %d", len(k))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%d-byte key: %v, want %q", len(k), err, want)
		}
		assertNoLeak(t, err, k)
	}
}

// TestMerchantPrintsNoKey: however a Merchant (or a Client holding one)
// is formatted, the private key's numbers do not appear.
func TestMerchantPrintsNoKey(t *testing.T) {
	m := testMerchant(t)
	c := &Client{Merchant: m}
	secrets := []string{m.Key.D.String()[:24], m.Key.Primes[0].String()[:24], m.Key.N.String()[:24]}
	for _, s := range []string{fmt.Sprint(m), fmt.Sprintf("%v", m), fmt.Sprintf("%+v", m), fmt.Sprintf("%#v", m), fmt.Sprintf("%+v", *c), fmt.Sprintf("%v", c.Merchant)} {
		for _, sec := range secrets {
			if strings.Contains(s, sec) {
				t.Fatalf("formatted merchant leaks key numbers: %.120s", s)
			}
		}
		if !strings.Contains(s, testMchID) && !strings.Contains(s, "Merchant") {
			t.Errorf("formatted merchant lost its id: %.120s", s)
		}
	}
}

// TestMerchantValidate: a usable merchant passes; each missing or
// malformed part is named.
func TestMerchantValidate(t *testing.T) {
	m := testMerchant(t)
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string]Merchant{
		"no mchid":      {Serial: m.Serial, Key: m.Key},
		"letters mchid": {MchID: "12ab", Serial: m.Serial, Key: m.Key},
		"no serial":     {MchID: m.MchID, Key: m.Key},
		"quote serial":  {MchID: m.MchID, Serial: `F5"`, Key: m.Key},
		"no key":        {MchID: m.MchID, Serial: m.Serial},
	} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%s: valid", name)
		}
	}
}
