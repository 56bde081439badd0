package pay

import (
	"crypto/rsa"
	"crypto/x509"
	"errors"

	"github.com/caddy-wechat/caddy-wechat/wechatpay"
)

// The simulator (wechatpay_mock, in the mock package) plays WeChat Pay
// for the merchants of this app. It must check their signatures and seal
// what it sends under their APIv3 keys, as WeChat Pay does; these methods
// let it do so without ever being handed a private key or an APIv3 key,
// as the wechat app's CheckSecret does for app secrets.

var errUnknownMerchant = errors.New("wechatpay: merchant is not configured")

// MerchantKey returns the serial and the public key of mchid's API
// certificate: what WeChat Pay checks a merchant's requests with.
func (a *App) MerchantKey(mchid string) (serial string, pub *rsa.PublicKey, ok bool) {
	m, ok := a.byID[mchid]
	if !ok {
		return "", nil, false
	}
	return m.signer.Serial, &m.signer.Key.PublicKey, true
}

// Trusts reports whether mchid verifies answers signed under serial: a
// public key it was given, or a platform certificate it downloaded.
func (a *App) Trusts(mchid, serial string) bool {
	m, ok := a.byID[mchid]
	if !ok {
		return false
	}
	_, known := m.verifier.Lookup(serial)
	return known
}

// HasPublicKey reports whether mchid was configured with a WeChat Pay
// public key of this id.
func (a *App) HasPublicKey(mchid, id string) bool {
	m, ok := a.byID[mchid]
	if !ok {
		return false
	}
	for _, pk := range m.PublicKeys {
		if pk.ID == id {
			return true
		}
	}
	return false
}

// Seal encrypts plaintext under mchid's APIv3 key, as WeChat Pay seals a
// notification's resource.
func (a *App) Seal(mchid string, plaintext []byte, associatedData, originalType string) (wechatpay.Resource, error) {
	m, ok := a.byID[mchid]
	if !ok {
		return wechatpay.Resource{}, errUnknownMerchant
	}
	return wechatpay.EncryptResource(m.apiv3, plaintext, associatedData, originalType)
}

// SealCertificates builds the /v3/certificates answer for certs, each
// sealed under mchid's APIv3 key.
func (a *App) SealCertificates(mchid string, certs []*x509.Certificate) ([]byte, error) {
	m, ok := a.byID[mchid]
	if !ok {
		return nil, errUnknownMerchant
	}
	return wechatpay.EncodeCertificates(certs, m.apiv3)
}

// AppIDs lists the apps mchid takes payments for (empty: any), as WeChat
// Pay knows which appids are bound to a merchant.
func (a *App) AppIDs(mchid string) []string {
	m, ok := a.byID[mchid]
	if !ok {
		return nil
	}
	return append([]string(nil), m.appidList...)
}
