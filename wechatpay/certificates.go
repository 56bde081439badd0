package wechatpay

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"strings"
	"time"
)

// certificateAAD is the associated_data WeChat Pay seals certificates with.
const certificateAAD = "certificate"

// maxCertificates bounds the entries DecodeCertificates handles; WeChat
// Pay lists one, or two while it rotates.
const maxCertificates = 16

// chinaTime is the zone WeChat Pay writes its times in.
var chinaTime = time.FixedZone("CST", 8*60*60)

// PlatformCertificate is one WeChat Pay platform certificate, reduced to
// what verification needs, plus the certificate itself.
type PlatformCertificate struct {
	Serial      string // uppercase hex, as Wechatpay-Serial names it
	PublicKey   *rsa.PublicKey
	NotBefore   time.Time
	NotAfter    time.Time
	Certificate *x509.Certificate
}

// NewPlatformCertificate takes a parsed certificate (from
// ParseCertificate, for one configured by hand) and checks that it holds
// an RSA key of at least 2048 bits. It does not check the validity
// window; DecodeCertificates does.
func NewPlatformCertificate(c *x509.Certificate) (PlatformCertificate, error) {
	if c == nil {
		return PlatformCertificate{}, errors.New("wechatpay: no certificate")
	}
	pub, ok := c.PublicKey.(*rsa.PublicKey)
	if !ok {
		return PlatformCertificate{}, errors.New("wechatpay: platform certificate does not hold an RSA key")
	}
	if _, err := checkPublicKey(pub); err != nil {
		return PlatformCertificate{}, err
	}
	return PlatformCertificate{
		Serial:      CertificateSerial(c),
		PublicKey:   pub,
		NotBefore:   c.NotBefore,
		NotAfter:    c.NotAfter,
		Certificate: c,
	}, nil
}

// ValidAt reports whether now falls within the certificate's validity.
func (p PlatformCertificate) ValidAt(now time.Time) bool {
	return !now.Before(p.NotBefore) && !now.After(p.NotAfter)
}

// certificatesAnswer is the body of GET /v3/certificates.
type certificatesAnswer struct {
	Data []certificateEntry `json:"data"`
}

type certificateEntry struct {
	SerialNo           string   `json:"serial_no"`
	EffectiveTime      string   `json:"effective_time"`
	ExpireTime         string   `json:"expire_time"`
	EncryptCertificate Resource `json:"encrypt_certificate"`
}

// DecodeCertificates reads a /v3/certificates answer: each
// encrypt_certificate is decrypted with apiV3Key, parsed as a PEM
// certificate, and must carry the serial its serial_no claims. An entry
// that fails any of this fails the whole answer (a *DecryptError or a
// *FormatError), since it means a wrong key or a forged answer. Entries
// valid at now are returned; expired or not yet valid ones are dropped,
// and an answer left with none is an error.
//
// It does not check the answer's own signature; Client.FetchCertificates
// does both.
func DecodeCertificates(body []byte, apiV3Key []byte, now time.Time) ([]PlatformCertificate, error) {
	const what = "certificates answer"
	var a certificatesAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return nil, &FormatError{What: what, Reason: "not the expected JSON shape"}
	}
	if len(a.Data) == 0 {
		return nil, &FormatError{What: what, Reason: "no certificates listed"}
	}
	if len(a.Data) > maxCertificates {
		return nil, &FormatError{What: what, Reason: "too many certificates listed"}
	}
	var out []PlatformCertificate
	seen := map[string]bool{}
	for _, e := range a.Data {
		plain, err := DecryptResource(apiV3Key, e.EncryptCertificate)
		if err != nil {
			return nil, err
		}
		c, err := ParseCertificate(plain)
		if err != nil {
			return nil, &FormatError{What: what, Reason: "decrypted entry is not a PEM certificate"}
		}
		pc, err := NewPlatformCertificate(c)
		if err != nil {
			return nil, &FormatError{What: what, Reason: err.Error()}
		}
		if !strings.EqualFold(pc.Serial, e.SerialNo) {
			return nil, &FormatError{What: what, Reason: "serial_no " + quoteClip(e.SerialNo) + " is not the certificate's serial " + pc.Serial}
		}
		if seen[pc.Serial] {
			return nil, &FormatError{What: what, Reason: "serial " + pc.Serial + " listed twice"}
		}
		seen[pc.Serial] = true
		if pc.ValidAt(now) {
			out = append(out, pc)
		}
	}
	if len(out) == 0 {
		return nil, &FormatError{What: what, Reason: "no certificate is valid now"}
	}
	return out, nil
}

// EncodeCertificates builds a /v3/certificates answer for certs, each
// sealed under apiV3Key as WeChat Pay does it: for a simulator.
func EncodeCertificates(certs []*x509.Certificate, apiV3Key []byte) ([]byte, error) {
	a := certificatesAnswer{Data: make([]certificateEntry, 0, len(certs))}
	for _, c := range certs {
		if c == nil {
			return nil, errors.New("wechatpay: nil certificate")
		}
		pemText := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
		r, err := EncryptResource(apiV3Key, pemText, certificateAAD, "")
		if err != nil {
			return nil, err
		}
		a.Data = append(a.Data, certificateEntry{
			SerialNo:           CertificateSerial(c),
			EffectiveTime:      c.NotBefore.In(chinaTime).Format(time.RFC3339),
			ExpireTime:         c.NotAfter.In(chinaTime).Format(time.RFC3339),
			EncryptCertificate: r,
		})
	}
	return json.Marshal(a)
}

// FetchCertificates downloads the platform certificates (GET
// /v3/certificates), decrypts and checks them with DecodeCertificates,
// and verifies the answer's signature. It does not install them: pass the
// result to Verifier.SetCertificates.
//
// Bootstrapping: when Wechatpay-Serial names a key the client's Verifier
// already holds, the answer is verified with it, as any other answer.
// Otherwise (the first fetch, or after a rotation the client missed) the
// answer must be signed by one of the certificates it carries. That is
// sound because each certificate arrives sealed with AES-GCM under the
// APIv3 key, which only WeChat Pay and the merchant know: a certificate
// that opens and matches its serial came from WeChat Pay, and the
// signature then proves the rest of the answer did too. A key already
// held is never replaced by one from the answer.
func (c *Client) FetchCertificates(ctx context.Context, apiV3Key []byte) ([]PlatformCertificate, error) {
	const op = "GET /v3/certificates"
	resp, raw, err := c.send(ctx, op, http.MethodGet, c.base()+"/v3/certificates", nil, MaxResponseBytes)
	if err != nil {
		return nil, err
	}
	now := c.now()
	if _, known := c.Verifier.Lookup(resp.Header.Get(HeaderSerial)); known {
		if err := c.Verifier.Verify(resp.Header, raw, now); err != nil {
			return nil, refused(op, resp.StatusCode, err)
		}
		if resp.StatusCode != http.StatusOK {
			return nil, &StatusError{Op: op, StatusCode: resp.StatusCode, Code: errorCode(raw)}
		}
		return DecodeCertificates(raw, apiV3Key, now)
	}
	if resp.StatusCode != http.StatusOK {
		// Not signed by a key we hold, and an error answer carries no
		// certificate to check it with.
		return nil, refused(op, resp.StatusCode, &VerifyError{Reason: ReasonUnknownSerial, Serial: clip(resp.Header.Get(HeaderSerial), 64)})
	}
	certs, err := DecodeCertificates(raw, apiV3Key, now)
	if err != nil {
		return nil, err
	}
	var boot Verifier
	if err := boot.SetCertificates(certs); err != nil {
		return nil, err
	}
	if err := boot.Verify(resp.Header, raw, now); err != nil {
		return nil, refused(op, resp.StatusCode, err)
	}
	return certs, nil
}

// errorCode is the code field of a verified WeChat Pay error answer
// ({"code":"…","message":"…"}), or "".
func errorCode(body []byte) string {
	var e struct {
		Code string `json:"code"`
	}
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	return clip(sanitize(e.Code), 64)
}
