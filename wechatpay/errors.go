package wechatpay

import (
	"fmt"
	"strconv"
)

// Reason says why a signed message (an answer or a notification) was not
// accepted. It is meant for logs and metric labels, so the set is small
// and fixed.
type Reason int

const (
	ReasonMissingHeader   Reason = iota + 1 // a Wechatpay-* header is absent or empty
	ReasonMalformedHeader                   // a header repeats, is too long, or its timestamp is not a number
	ReasonUnknownSerial                     // Wechatpay-Serial names no key we hold
	ReasonStaleTimestamp                    // Wechatpay-Timestamp is 5 minutes or more from now
	ReasonBadSignature                      // the signature does not verify over the message
)

var reasonNames = [...]string{"", "missing_header", "malformed_header", "unknown_serial", "stale_timestamp", "bad_signature"}

// String is the reason's metric label, e.g. "bad_signature".
func (r Reason) String() string {
	if r > 0 && int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "reason(" + strconv.Itoa(int(r)) + ")"
}

// VerifyError is a message that is not proven to come from WeChat Pay. A
// notification handler answers it with 401; WeChat Pay then retries.
type VerifyError struct {
	Reason Reason
	// Serial is the Wechatpay-Serial that was sent (possibly empty or
	// cut short), so that an unknown serial can be logged: it names a
	// key, it is not one.
	Serial string
	// Header names the missing or malformed header, if that is the reason.
	Header string
}

func (e *VerifyError) Error() string { return "wechatpay: signature not accepted: " + e.detail() }

// detail is the reason with the header or serial it concerns.
func (e *VerifyError) detail() string {
	s := e.Reason.String()
	if e.Header != "" {
		s += " (" + e.Header + ")"
	}
	if e.Serial != "" {
		s += fmt.Sprintf(" serial %q", e.Serial)
	}
	return s
}

// DecryptError is an encrypted resource that does not open: a wrong
// APIv3 key, a tampered or truncated ciphertext, bad base64, or an
// algorithm other than AEAD_AES_256_GCM. Its text never holds the key,
// the nonce or any plaintext.
type DecryptError struct {
	Reason string
}

func (e *DecryptError) Error() string { return "wechatpay: resource does not decrypt: " + e.Reason }

// FormatError is a body that is not the JSON WeChat Pay sends, or a
// decrypted certificate that fails its checks. What names the message
// ("notification", "certificates answer").
type FormatError struct {
	What   string
	Reason string
}

func (e *FormatError) Error() string { return "wechatpay: malformed " + e.What + ": " + e.Reason }

// TransportError is a request that got no usable answer. Its text keeps
// only the cause, never the URL, the Authorization header or the body.
type TransportError struct {
	Op      string // "GET /v3/certificates": the method and the path, no query
	Reason  string
	Timeout bool // no answer before the deadline
}

func (e *TransportError) Error() string {
	if e.Timeout {
		return "wechatpay " + e.Op + ": timeout: " + e.Reason
	}
	return "wechatpay " + e.Op + ": " + e.Reason
}

// ResponseSignatureError is an answer whose signature was not accepted.
// Its body is not returned: an unverified body could come from anyone on
// the path and must not be acted on. It unwraps to the *VerifyError.
type ResponseSignatureError struct {
	Op         string
	StatusCode int
	Err        *VerifyError
}

func (e *ResponseSignatureError) Error() string {
	return fmt.Sprintf("wechatpay %s: HTTP %d answer refused: %s", e.Op, e.StatusCode, e.Err.detail())
}

// Unwrap lets errors.As find the *VerifyError and its Reason.
func (e *ResponseSignatureError) Unwrap() error { return e.Err }

// StatusError is an answer with a status other than the one expected,
// where the caller gets no *Response to look at: a bill download, or a
// certificates fetch. Code is WeChat Pay's error code (e.g.
// "SIGN_ERROR") when the answer was signed and carried one; an unsigned
// body is not read at all.
type StatusError struct {
	Op         string
	StatusCode int
	Code       string
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("wechatpay %s: HTTP status %d", e.Op, e.StatusCode)
	if e.Code != "" {
		s += " code " + e.Code
	}
	return s
}

// clip cuts an attacker-chosen value to a length fit for error text.
func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
