package wechatpay

import (
	"crypto/rsa"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The headers that carry WeChat Pay's signature on answers and
// notifications.
const (
	HeaderSerial    = "Wechatpay-Serial"
	HeaderSignature = "Wechatpay-Signature"
	HeaderTimestamp = "Wechatpay-Timestamp"
	HeaderNonce     = "Wechatpay-Nonce"
)

// MaxClockSkew is how far Wechatpay-Timestamp may be from now, either
// way, before a message is refused as stale: it limits how long a
// captured answer or notification can be replayed.
const MaxClockSkew = 5 * time.Minute

// PublicKeyIDPrefix starts the id of every WeChat Pay public key (the key
// mode that replaces platform certificates for newer merchants), as it
// appears in Wechatpay-Serial.
const PublicKeyIDPrefix = "PUB_KEY_ID_"

// maxHeaderLen bounds Wechatpay-Serial and Wechatpay-Nonce; real values
// are 40 characters or less.
const maxHeaderLen = 128

// Verifier holds the keys that WeChat Pay signs with, by the id that
// Wechatpay-Serial names: WeChat Pay public keys (ids starting with
// PUB_KEY_ID_), set once from the configuration, and platform
// certificates (uppercase hex serials), replaced as a set whenever they
// are refreshed. A merchant moving from certificates to a public key
// receives both kinds for a while, so both are looked up.
//
// The zero value holds no keys and is ready to use; a Verifier is safe
// for concurrent use, and a nil *Verifier knows no keys.
type Verifier struct {
	mu         sync.RWMutex
	publicKeys map[string]*rsa.PublicKey
	certs      map[string]PlatformCertificate // never changed once stored: SetCertificates swaps the map
}

// AddPublicKey adds (or replaces) the WeChat Pay public key with the
// given id, which must start with PUB_KEY_ID_.
func (v *Verifier) AddPublicKey(id string, pub *rsa.PublicKey) error {
	if !strings.HasPrefix(id, PublicKeyIDPrefix) || len(id) == len(PublicKeyIDPrefix) || len(id) > maxHeaderLen || !safeField(id) {
		return errors.New("wechatpay: a WeChat Pay public key id must start with " + PublicKeyIDPrefix)
	}
	if pub == nil {
		return errors.New("wechatpay: no public key given for " + id)
	}
	if _, err := checkPublicKey(pub); err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.publicKeys == nil {
		v.publicKeys = map[string]*rsa.PublicKey{}
	}
	v.publicKeys[id] = pub
	return nil
}

// SetCertificates replaces every platform certificate with certs, at
// once: a verification running meanwhile sees the old set or the new
// one, never a mix. It refuses (and changes nothing) when two entries
// share a serial, or an entry has no key or a serial that is not
// uppercase hex. Public keys are kept.
func (v *Verifier) SetCertificates(certs []PlatformCertificate) error {
	m := make(map[string]PlatformCertificate, len(certs))
	for _, c := range certs {
		// Uppercase hex only: Lookup matches exactly, and WeChat Pay
		// writes serials in uppercase, so any other form would never match.
		if c.Serial == "" || strings.Trim(c.Serial, "0123456789ABCDEF") != "" || c.PublicKey == nil {
			return errors.New("wechatpay: platform certificate needs an uppercase hex serial and a key")
		}
		if _, dup := m[c.Serial]; dup {
			return errors.New("wechatpay: two platform certificates with serial " + c.Serial)
		}
		m[c.Serial] = c
	}
	v.mu.Lock()
	v.certs = m
	v.mu.Unlock()
	return nil
}

// Certificates returns the platform certificates held now, sorted by
// serial.
func (v *Verifier) Certificates() []PlatformCertificate {
	if v == nil {
		return nil
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	out := make([]PlatformCertificate, 0, len(v.certs))
	for _, c := range v.certs {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b PlatformCertificate) int { return strings.Compare(a.Serial, b.Serial) })
	return out
}

// Serials lists every id the Verifier holds a key for, public key ids and
// certificate serials, sorted.
func (v *Verifier) Serials() []string {
	if v == nil {
		return nil
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	out := make([]string, 0, len(v.publicKeys)+len(v.certs))
	for id := range v.publicKeys {
		out = append(out, id)
	}
	for s := range v.certs {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// Lookup returns the key that serial names. The match is exact: WeChat
// Pay writes certificate serials in uppercase.
func (v *Verifier) Lookup(serial string) (*rsa.PublicKey, bool) {
	if v == nil || serial == "" {
		return nil, false
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	if strings.HasPrefix(serial, PublicKeyIDPrefix) {
		k, ok := v.publicKeys[serial]
		return k, ok
	}
	c, ok := v.certs[serial]
	return c.PublicKey, ok
}

// VerifyMessage checks signature over message with the key serial names.
// It is the step under Verify, exposed for test vectors that sign a bare
// message. Failures are a *VerifyError: ReasonUnknownSerial or
// ReasonBadSignature.
func (v *Verifier) VerifyMessage(serial string, message []byte, signature string) error {
	pub, ok := v.Lookup(serial)
	if !ok {
		return &VerifyError{Reason: ReasonUnknownSerial, Serial: clip(serial, 64)}
	}
	if err := VerifySignature(pub, message, signature); err != nil {
		return &VerifyError{Reason: ReasonBadSignature, Serial: serial}
	}
	return nil
}

// Verify checks that an answer or a notification was signed by WeChat
// Pay: the four Wechatpay-* headers are present once each, the timestamp
// is less than MaxClockSkew from now, and Wechatpay-Signature verifies
// over ResponseMessage with the key Wechatpay-Serial names. body must be
// the raw bytes received. Failures are a *VerifyError.
func (v *Verifier) Verify(h http.Header, body []byte, now time.Time) error {
	var vals [4]string
	for i, name := range [...]string{HeaderSerial, HeaderTimestamp, HeaderNonce, HeaderSignature} {
		vs := h.Values(name)
		switch {
		case len(vs) == 0 || vs[0] == "":
			return &VerifyError{Reason: ReasonMissingHeader, Header: name}
		case len(vs) > 1:
			return &VerifyError{Reason: ReasonMalformedHeader, Header: name}
		case name != HeaderSignature && len(vs[0]) > maxHeaderLen:
			return &VerifyError{Reason: ReasonMalformedHeader, Header: name}
		}
		vals[i] = vs[0]
	}
	serial, ts, nonce, sig := vals[0], vals[1], vals[2], vals[3]
	if r := checkTimestamp(ts, now); r != 0 {
		e := &VerifyError{Reason: r, Serial: serial}
		if r == ReasonMalformedHeader {
			e.Header = HeaderTimestamp
		}
		return e
	}
	return v.VerifyMessage(serial, ResponseMessage(ts, nonce, body), sig)
}

// checkTimestamp returns 0 when ts is unix seconds less than MaxClockSkew
// from now, ReasonStaleTimestamp when it is further, either way, and
// ReasonMalformedHeader when it is not plain digits.
func checkTimestamp(ts string, now time.Time) Reason {
	if ts == "" || len(ts) > 12 || strings.Trim(ts, "0123456789") != "" {
		return ReasonMalformedHeader
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ReasonMalformedHeader
	}
	d := now.Sub(time.Unix(sec, 0))
	if d >= MaxClockSkew || d <= -MaxClockSkew {
		return ReasonStaleTimestamp
	}
	return 0
}

// SignResponseHeaders signs body as WeChat Pay signs an answer or a
// notification, and sets the four Wechatpay-* headers on h: for a
// simulator of WeChat Pay, whose key serial is a certificate serial or a
// PUB_KEY_ID_ id. timestamp is unix seconds.
func SignResponseHeaders(h http.Header, key *rsa.PrivateKey, serial string, body []byte, timestamp int64, nonce string) error {
	if serial == "" || !safeField(serial) || nonce == "" || !safeField(nonce) || timestamp <= 0 {
		return errors.New("wechatpay: response signing needs a serial, a nonce and a positive timestamp")
	}
	ts := strconv.FormatInt(timestamp, 10)
	sig, err := Sign(key, ResponseMessage(ts, nonce, body))
	if err != nil {
		return err
	}
	h.Set(HeaderSerial, serial)
	h.Set(HeaderTimestamp, ts)
	h.Set(HeaderNonce, nonce)
	h.Set(HeaderSignature, sig)
	return nil
}
