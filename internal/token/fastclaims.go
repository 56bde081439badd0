package token

import (
	"time"
)

// fastClaims are the claims of a token in the plain form our claims type
// marshals to: one JSON object, no whitespace, keys known and each once,
// string values of printable ASCII without escapes, time values as whole
// numbers of at most 15 digits. parse refuses anything else, which then
// goes to the full parse.
type fastClaims struct {
	iss, sub, aud, jti, unionid, sk, sid []byte
	iat, exp, nbf, authTime              int64
	seen                                 uint16
}

// The claims fastClaims knows, as bits of seen.
const (
	cIss = 1 << iota
	cSub
	cAud
	cIat
	cExp
	cNbf
	cJti
	cUnionID
	cSk
	cSID
	cAuthTime
)

func (c *fastClaims) parse(b []byte) bool {
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return false
	}
	i := 1
	if b[i] == '}' {
		return i == len(b)-1
	}
	for {
		key, next, ok := fastString(b, i)
		if !ok || next >= len(b) || b[next] != ':' {
			return false
		}
		i = next + 1
		var bit uint16
		var str *[]byte
		var num *int64
		switch string(key) {
		case "iss":
			bit, str = cIss, &c.iss
		case "sub":
			bit, str = cSub, &c.sub
		case "aud":
			bit, str = cAud, &c.aud
		case "jti":
			bit, str = cJti, &c.jti
		case "unionid":
			bit, str = cUnionID, &c.unionid
		case "sk":
			bit, str = cSk, &c.sk
		case "sid":
			bit, str = cSID, &c.sid
		case "auth_time":
			bit, num = cAuthTime, &c.authTime
		case "iat":
			bit, num = cIat, &c.iat
		case "exp":
			bit, num = cExp, &c.exp
		case "nbf":
			bit, num = cNbf, &c.nbf
		default:
			return false
		}
		if c.seen&bit != 0 {
			return false
		}
		c.seen |= bit
		if str != nil {
			*str, i, ok = fastString(b, i)
		} else {
			*num, i, ok = fastNumber(b, i)
		}
		if !ok || i >= len(b) {
			return false
		}
		switch b[i] {
		case ',':
			i++
		case '}':
			return i == len(b)-1
		default:
			return false
		}
	}
}

// fastString reads a JSON string at b[i] that needs no unescaping and
// holds printable ASCII only (encoding/json would change invalid UTF-8),
// and returns its content and the index after it.
func fastString(b []byte, i int) ([]byte, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, i, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return b[i+1 : j], j + 1, true
		case c == '\\' || c < 0x20 || c > 0x7e:
			return nil, i, false
		}
	}
	return nil, i, false
}

// fastNumber reads a JSON whole number of 1 to 15 digits (exact as a
// float64, which is how golang-jwt reads it), without a sign, at b[i].
func fastNumber(b []byte, i int) (int64, int, bool) {
	var n int64
	j := i
	for ; j < len(b) && b[j] >= '0' && b[j] <= '9'; j++ {
		n = n*10 + int64(b[j]-'0')
	}
	digits := j - i
	if digits == 0 || digits > 15 || (digits > 1 && b[i] == '0') {
		return 0, i, false
	}
	if j < len(b) && (b[j] == '.' || b[j] == 'e' || b[j] == 'E') {
		return 0, i, false
	}
	return n, j, true
}

// valid applies the full parse's claim checks, with the same clock
// comparisons as golang-jwt's validator.
func (c *fastClaims) valid(v *Verifier, now time.Time) bool {
	const required = cIss | cSub | cAud | cIat | cExp
	if c.seen&required != required || len(c.sub) == 0 || len(c.aud) == 0 {
		return false
	}
	if string(c.iss) != v.keys.issuer || !v.known(string(c.aud)) {
		return false
	}
	if !now.Before(time.Unix(c.exp, 0).Add(Leeway)) {
		return false
	}
	if now.Before(time.Unix(c.iat, 0).Add(-Leeway)) {
		return false
	}
	if c.seen&cNbf != 0 && now.Before(time.Unix(c.nbf, 0).Add(-Leeway)) {
		return false
	}
	return true
}

// identity builds the Identity, its strings cut from one allocation so
// that a cached token costs as little memory as it can.
func (c *fastClaims) identity(kid string) *Identity {
	var parts [nParts][]byte
	parts[partOpenID], parts[partUnionID], parts[partAppID] = c.sub, c.unionid, c.aud
	parts[partJTI], parts[partSealed], parts[partKID], parts[partSID] = c.jti, c.sk, bytesOf(kid), c.sid
	var authTime time.Time
	if c.seen&cAuthTime != 0 {
		authTime = time.Unix(c.authTime, 0)
	}
	return newIdentity(parts, time.Unix(c.iat, 0), time.Unix(c.exp, 0), authTime)
}
