package wechatpay

import (
	"crypto/rsa"
	"errors"
	"strconv"
	"strings"
	"time"
)

// SignTypeRSA is the signType of APIv3 payments.
const SignTypeRSA = "RSA"

// prepayPrefix starts wx.requestPayment's package value.
const prepayPrefix = "prepay_id="

// PaymentParams are the arguments of wx.requestPayment (a mini program's
// payment), ready to be sent to the client as JSON. The field names are
// the ones the mini program API expects. WeixinJSBridge in the WeChat
// browser also wants appId, which is signed but not part of this struct.
type PaymentParams struct {
	TimeStamp string `json:"timeStamp"` // unix seconds, as a string
	NonceStr  string `json:"nonceStr"`
	Package   string `json:"package"` // "prepay_id=…"
	SignType  string `json:"signType"`
	PaySign   string `json:"paySign"`
}

// RequestPayment signs a payment of prepayID (the prepay_id a JSAPI
// prepay answer returned) for the mini program appID, with the current
// time and a fresh nonce. Only the merchant's key is used.
func (m Merchant) RequestPayment(appID, prepayID string) (PaymentParams, error) {
	nonce, err := NewNonce()
	if err != nil {
		return PaymentParams{}, err
	}
	return m.RequestPaymentAt(appID, prepayID, time.Now().Unix(), nonce)
}

// RequestPaymentAt is RequestPayment with the timestamp (unix seconds)
// and the nonce given, for test vectors. paySign signs
// appId\ntimeStamp\nnonceStr\npackage\n; signType is not signed.
func (m Merchant) RequestPaymentAt(appID, prepayID string, timestamp int64, nonce string) (PaymentParams, error) {
	if m.Key == nil {
		return PaymentParams{}, errors.New("wechatpay: merchant has no private key")
	}
	if appID == "" || !safeField(appID) {
		return PaymentParams{}, errors.New("wechatpay: appid must be non-empty and printable")
	}
	if strings.HasPrefix(prepayID, prepayPrefix) {
		return PaymentParams{}, errors.New("wechatpay: pass the prepay_id value, without \"prepay_id=\"")
	}
	if prepayID == "" || !safeField(prepayID) {
		return PaymentParams{}, errors.New("wechatpay: prepay_id must be non-empty and printable")
	}
	if nonce == "" || len(nonce) > NonceLen || !safeField(nonce) {
		return PaymentParams{}, errors.New("wechatpay: nonce must be 1 to 32 printable characters")
	}
	if timestamp <= 0 {
		return PaymentParams{}, errors.New("wechatpay: timestamp must be positive unix seconds")
	}
	p := PaymentParams{
		TimeStamp: strconv.FormatInt(timestamp, 10),
		NonceStr:  nonce,
		Package:   prepayPrefix + prepayID,
		SignType:  SignTypeRSA,
	}
	sig, err := Sign(m.Key, PaySignMessage(appID, p.TimeStamp, p.NonceStr, p.Package))
	if err != nil {
		return PaymentParams{}, err
	}
	p.PaySign = sig
	return p, nil
}

// VerifyPaySign checks p.PaySign for appID with the merchant's public key,
// as WeChat does when the mini program calls wx.requestPayment: for a
// simulator. signType must be RSA.
func VerifyPaySign(pub *rsa.PublicKey, appID string, p PaymentParams) error {
	if p.SignType != SignTypeRSA {
		return &VerifyError{Reason: ReasonMalformedHeader, Header: "signType"}
	}
	return VerifySignature(pub, PaySignMessage(appID, p.TimeStamp, p.NonceStr, p.Package), p.PaySign)
}
