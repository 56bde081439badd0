package wechatpay

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
)

// maxSignatureLen bounds a base64 signature before it is decoded: RSA-4096
// gives 684 characters, so anything far longer is not a signature and is
// refused before any work is done on it.
const maxSignatureLen = 1024

// Sign is the signature WeChat Pay APIv3 uses everywhere:
// base64(RSA PKCS#1 v1.5 over SHA-256(message)), standard alphabet with
// padding. The result is deterministic for a given key and message.
func Sign(key *rsa.PrivateKey, message []byte) (string, error) {
	if key == nil {
		return "", errors.New("wechatpay: no private key to sign with")
	}
	sum := sha256.Sum256(message)
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", errors.New("wechatpay: RSA signing failed")
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// VerifySignature checks a Sign signature of message with pub. It returns
// a *VerifyError of ReasonBadSignature for any failure, including a
// signature that is not base64, so that callers have one case to handle.
func VerifySignature(pub *rsa.PublicKey, message []byte, signature string) error {
	bad := &VerifyError{Reason: ReasonBadSignature}
	if pub == nil || signature == "" || len(signature) > maxSignatureLen {
		return bad
	}
	sig, err := base64.StdEncoding.Strict().DecodeString(signature)
	if err != nil {
		return bad
	}
	sum := sha256.Sum256(message)
	if rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig) != nil {
		return bad
	}
	return nil
}

// RequestMessage is what a merchant signs for one API request:
// METHOD\nPATH?QUERY\nTIMESTAMP\nNONCE\nBODY\n, over the exact body bytes
// that are sent (empty for a GET). pathQuery is the request URI as it
// goes on the wire, e.g. "/v3/certificates" or "/v3/pay/…?mchid=…".
func RequestMessage(method, pathQuery, timestamp, nonce string, body []byte) []byte {
	var b strings.Builder
	b.Grow(len(method) + len(pathQuery) + len(timestamp) + len(nonce) + len(body) + 5)
	for _, s := range [...]string{method, pathQuery, timestamp, nonce} {
		b.WriteString(s)
		b.WriteByte('\n')
	}
	b.Write(body)
	b.WriteByte('\n')
	return []byte(b.String())
}

// ResponseMessage is what WeChat Pay signs for an answer or a
// notification: Wechatpay-Timestamp\nWechatpay-Nonce\nBODY\n, over the
// raw body bytes as received. Re-serialising a parsed body changes them
// and breaks the signature, so keep the raw bytes.
func ResponseMessage(timestamp, nonce string, body []byte) []byte {
	m := make([]byte, 0, len(timestamp)+len(nonce)+len(body)+3)
	m = append(m, timestamp...)
	m = append(m, '\n')
	m = append(m, nonce...)
	m = append(m, '\n')
	m = append(m, body...)
	return append(m, '\n')
}

// PaySignMessage is what wx.requestPayment's paySign signs:
// appId\ntimeStamp\nnonceStr\npackage\n. signType is not part of it.
func PaySignMessage(appID, timeStamp, nonceStr, pkg string) []byte {
	return []byte(appID + "\n" + timeStamp + "\n" + nonceStr + "\n" + pkg + "\n")
}
