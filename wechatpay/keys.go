package wechatpay

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// APIv3KeySize is the length of a merchant's APIv3 key. The merchant
// platform only accepts 32 characters, which AEAD_AES_256_GCM uses as the
// AES-256 key as they are.
const APIv3KeySize = 32

// minRSABits is the smallest RSA key accepted. The scheme's name says
// RSA2048, and the merchant platform issues nothing smaller.
const minRSABits = 2048

// CheckAPIv3Key reports whether key can be a real APIv3 key. Call it when
// the configuration is loaded: DecryptResource itself accepts any AES key
// length, so that the SDK's published 16-byte test vectors run, and would
// otherwise fail only when the first notification arrives.
func CheckAPIv3Key(key []byte) error {
	if len(key) != APIv3KeySize {
		return fmt.Errorf("wechatpay: APIv3 key must be exactly %d bytes, got %d", APIv3KeySize, len(key))
	}
	return nil
}

// ParsePrivateKey reads the merchant's API private key (apiclient_key.pem)
// from PEM: PKCS#8 "PRIVATE KEY", as the merchant platform issues it, or
// PKCS#1 "RSA PRIVATE KEY", as openssl may convert it. Errors describe
// the PEM's shape only; they never quote the key or the parser's text.
func ParsePrivateKey(pemData []byte) (*rsa.PrivateKey, error) {
	block, err := onePEM(pemData, "merchant private key")
	if err != nil {
		return nil, err
	}
	var key *rsa.PrivateKey
	switch block.Type {
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, errors.New("wechatpay: merchant private key: PRIVATE KEY block is not valid PKCS#8")
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("wechatpay: merchant private key: %T is not an RSA key", k)
		}
		key = rk
	case "RSA PRIVATE KEY":
		if block.Headers["Proc-Type"] != "" {
			return nil, errors.New("wechatpay: merchant private key: encrypted PEM is not supported, decrypt it first")
		}
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, errors.New("wechatpay: merchant private key: RSA PRIVATE KEY block is not valid PKCS#1")
		}
		key = k
	default:
		return nil, fmt.Errorf("wechatpay: merchant private key: PEM block is %q, want \"PRIVATE KEY\" or \"RSA PRIVATE KEY\"", clip(block.Type, 40))
	}
	if n := key.N.BitLen(); n < minRSABits {
		return nil, fmt.Errorf("wechatpay: merchant private key: RSA key is %d bits, want at least %d", n, minRSABits)
	}
	return key, nil
}

// ParsePublicKey reads a WeChat Pay public key (the pub_key.pem that goes
// with a PUB_KEY_ID_… id) from PEM: PKIX "PUBLIC KEY", or PKCS#1 "RSA
// PUBLIC KEY".
func ParsePublicKey(pemData []byte) (*rsa.PublicKey, error) {
	block, err := onePEM(pemData, "WeChat Pay public key")
	if err != nil {
		return nil, err
	}
	switch block.Type {
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, errors.New("wechatpay: WeChat Pay public key: PUBLIC KEY block is not valid PKIX")
		}
		rk, ok := k.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("wechatpay: WeChat Pay public key: %T is not an RSA key", k)
		}
		return checkPublicKey(rk)
	case "RSA PUBLIC KEY":
		k, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, errors.New("wechatpay: WeChat Pay public key: RSA PUBLIC KEY block is not valid PKCS#1")
		}
		return checkPublicKey(k)
	case "CERTIFICATE":
		return nil, errors.New("wechatpay: WeChat Pay public key: PEM block is a CERTIFICATE; configure it as a platform certificate instead")
	}
	return nil, fmt.Errorf("wechatpay: WeChat Pay public key: PEM block is %q, want \"PUBLIC KEY\"", clip(block.Type, 40))
}

// ParseCertificate reads one X.509 certificate (a platform certificate,
// or the merchant's apiclient_cert.pem) from PEM. It checks the shape
// only; whether the certificate is valid now is NewPlatformCertificate's
// and DecodeCertificates' business.
func ParseCertificate(pemData []byte) (*x509.Certificate, error) {
	block, err := onePEM(pemData, "certificate")
	if err != nil {
		return nil, err
	}
	if block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("wechatpay: certificate: PEM block is %q, want \"CERTIFICATE\"", clip(block.Type, 40))
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, errors.New("wechatpay: certificate: CERTIFICATE block is not valid X.509")
	}
	return c, nil
}

// CertificateSerial is a certificate's serial number as WeChat Pay writes
// it in Wechatpay-Serial and serial_no: uppercase hex of the serial's
// bytes, the form `openssl x509 -serial` prints.
func CertificateSerial(c *x509.Certificate) string {
	if c == nil || c.SerialNumber == nil {
		return ""
	}
	return strings.ToUpper(hex.EncodeToString(c.SerialNumber.Bytes()))
}

// onePEM decodes the first PEM block of data and refuses anything but
// whitespace after it, so that a file holding a key and a certificate (or
// two keys) is an error instead of a silent choice. Text before the block
// is skipped, as pem.Decode does: openssl's "Bag Attributes" lines go there.
func onePEM(data []byte, what string) (*pem.Block, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("wechatpay: %s: no PEM block found", what)
	}
	if len(strings.TrimSpace(string(rest))) != 0 {
		return nil, fmt.Errorf("wechatpay: %s: more than one PEM block, or text after the block", what)
	}
	return block, nil
}

func checkPublicKey(k *rsa.PublicKey) (*rsa.PublicKey, error) {
	if n := k.N.BitLen(); n < minRSABits {
		return nil, fmt.Errorf("wechatpay: WeChat Pay public key: RSA key is %d bits, want at least %d", n, minRSABits)
	}
	return k, nil
}
