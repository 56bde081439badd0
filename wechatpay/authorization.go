package wechatpay

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// AuthScheme is the Authorization scheme of WeChat Pay APIv3 requests.
const AuthScheme = "WECHATPAY2-SHA256-RSA2048"

// maxAuthorizationLen bounds the Authorization header ParseAuthorization
// looks at; a real one is under 900 bytes.
const maxAuthorizationLen = 4096

// Merchant is who signs requests: the merchant id, the serial number of
// the merchant API certificate (apiclient_cert.pem, not a platform
// certificate) and its private key. It prints without its key, so that
// logging a configuration cannot leak it.
type Merchant struct {
	MchID  string
	Serial string
	Key    *rsa.PrivateKey
}

// String shows the ids and whether a key is set, never the key.
func (m Merchant) String() string {
	key := "none"
	if m.Key != nil {
		key = "set"
	}
	return fmt.Sprintf("wechatpay.Merchant{MchID:%q Serial:%q Key:%s}", m.MchID, m.Serial, key)
}

// GoString keeps %#v from printing the key's numbers.
func (m Merchant) GoString() string { return m.String() }

// Validate reports whether m can sign: a numeric mchid, a hexadecimal
// certificate serial and a key. Call it when the configuration is loaded.
func (m Merchant) Validate() error {
	if m.MchID == "" || len(m.MchID) > 32 || strings.Trim(m.MchID, "0123456789") != "" {
		return errors.New("wechatpay: merchant mchid must be 1 to 32 digits")
	}
	if m.Serial == "" || len(m.Serial) > 64 || strings.Trim(m.Serial, "0123456789ABCDEFabcdef") != "" {
		return errors.New("wechatpay: merchant certificate serial must be 1 to 64 hex digits")
	}
	if m.Key == nil {
		return errors.New("wechatpay: merchant has no private key")
	}
	return nil
}

// Authorization signs one request with the current time and a fresh
// random nonce and returns the Authorization header value. pathQuery is
// the request URI exactly as sent, and body the exact bytes sent.
func (m Merchant) Authorization(method, pathQuery string, body []byte) (string, error) {
	nonce, err := NewNonce()
	if err != nil {
		return "", err
	}
	return m.AuthorizationAt(method, pathQuery, body, time.Now().Unix(), nonce)
}

// AuthorizationAt is Authorization with the timestamp (unix seconds) and
// the nonce given, for test vectors and simulators. The header is
//
//	WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",timestamp="…",serial_no="…",signature="…"
//
// with the parameters in exactly that order.
func (m Merchant) AuthorizationAt(method, pathQuery string, body []byte, timestamp int64, nonce string) (string, error) {
	if err := m.Validate(); err != nil {
		return "", err
	}
	if method == "" || strings.Trim(method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
		return "", errors.New("wechatpay: request method must be uppercase letters")
	}
	if !strings.HasPrefix(pathQuery, "/") || !safeField(pathQuery) {
		return "", errors.New("wechatpay: request path must start with / and hold no control characters or quotes")
	}
	if nonce == "" || len(nonce) > NonceLen || !safeField(nonce) {
		return "", errors.New("wechatpay: nonce must be 1 to 32 printable characters")
	}
	if timestamp <= 0 {
		return "", errors.New("wechatpay: timestamp must be positive unix seconds")
	}
	ts := strconv.FormatInt(timestamp, 10)
	sig, err := Sign(m.Key, RequestMessage(method, pathQuery, ts, nonce, body))
	if err != nil {
		return "", err
	}
	return AuthParams{MchID: m.MchID, Nonce: nonce, Timestamp: ts, Serial: m.Serial, Signature: sig}.String(), nil
}

// AuthParams are the parameters of an Authorization header.
type AuthParams struct {
	MchID     string // mchid
	Nonce     string // nonce_str
	Timestamp string // timestamp, unix seconds
	Serial    string // serial_no, the merchant certificate's serial
	Signature string // signature, base64
}

// String formats p as an Authorization header value.
func (p AuthParams) String() string {
	return AuthScheme + ` mchid="` + p.MchID + `",nonce_str="` + p.Nonce + `",timestamp="` + p.Timestamp +
		`",serial_no="` + p.Serial + `",signature="` + p.Signature + `"`
}

// ParseAuthorization reads an Authorization header value of AuthScheme,
// for a simulator of WeChat Pay. Every parameter must be present once,
// quoted; parameters it does not know are refused. Failures are a
// *VerifyError (ReasonMissingHeader or ReasonMalformedHeader) whose text
// never includes the header.
func ParseAuthorization(header string) (AuthParams, error) {
	var p AuthParams
	if header == "" {
		return p, &VerifyError{Reason: ReasonMissingHeader, Header: "Authorization"}
	}
	malformed := func() (AuthParams, error) {
		return AuthParams{}, &VerifyError{Reason: ReasonMalformedHeader, Header: "Authorization"}
	}
	rest, ok := strings.CutPrefix(header, AuthScheme+" ")
	if !ok || len(header) > maxAuthorizationLen {
		return malformed()
	}
	seen := map[string]bool{}
	for item := range strings.SplitSeq(rest, ",") {
		name, value, ok := strings.Cut(strings.TrimLeft(item, " "), "=")
		if !ok || len(value) < 2 || value[0] != '"' || value[len(value)-1] != '"' || seen[name] {
			return malformed()
		}
		value = value[1 : len(value)-1]
		if !safeField(value) {
			return malformed()
		}
		seen[name] = true
		switch name {
		case "mchid":
			p.MchID = value
		case "nonce_str":
			p.Nonce = value
		case "timestamp":
			p.Timestamp = value
		case "serial_no":
			p.Serial = value
		case "signature":
			p.Signature = value
		default:
			return malformed()
		}
	}
	if p.MchID == "" || p.Nonce == "" || p.Timestamp == "" || p.Serial == "" || p.Signature == "" {
		return malformed()
	}
	return p, nil
}

// VerifyAuthorization checks a merchant's request the way WeChat Pay
// does, for a simulator: the header parses, its timestamp is less than 5
// minutes from now, and its signature verifies with pub (the public key
// of the merchant certificate) over the request as received. It returns
// the parameters so that the caller can check mchid and serial_no.
func VerifyAuthorization(pub *rsa.PublicKey, header, method, pathQuery string, body []byte, now time.Time) (AuthParams, error) {
	p, err := ParseAuthorization(header)
	if err != nil {
		return p, err
	}
	if r := checkTimestamp(p.Timestamp, now); r != 0 {
		return p, &VerifyError{Reason: r, Header: "Authorization", Serial: clip(p.Serial, 64)}
	}
	if err := VerifySignature(pub, RequestMessage(method, pathQuery, p.Timestamp, p.Nonce, body), p.Signature); err != nil {
		return p, &VerifyError{Reason: ReasonBadSignature, Serial: clip(p.Serial, 64)}
	}
	return p, nil
}

// VerifyRequest is VerifyAuthorization for a server-side *http.Request
// whose body has already been read into body. It uses the request URI as
// it arrived, not r.URL re-encoded, since that is what was signed.
func VerifyRequest(pub *rsa.PublicKey, r *http.Request, body []byte, now time.Time) (AuthParams, error) {
	if len(r.Header.Values("Authorization")) > 1 {
		return AuthParams{}, &VerifyError{Reason: ReasonMalformedHeader, Header: "Authorization"}
	}
	uri := r.RequestURI
	if uri == "" {
		uri = r.URL.RequestURI()
	}
	return VerifyAuthorization(pub, r.Header.Get("Authorization"), r.Method, uri, body, now)
}
