package wechatpay

import (
	"crypto/rand"
	"errors"
)

// NonceLen is the length of the nonces this package makes. WeChat Pay
// accepts up to 32 characters.
const NonceLen = 32

const nonceAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// NewNonce returns NonceLen random characters from [A-Z0-9], read from
// crypto/rand. Bytes at or above 252 (7×36) are dropped rather than
// reduced, so every character is equally likely.
func NewNonce() (string, error) {
	out := make([]byte, 0, NonceLen)
	buf := make([]byte, NonceLen*2)
	for len(out) < NonceLen {
		if _, err := rand.Read(buf); err != nil {
			return "", errors.New("wechatpay: no randomness for a nonce")
		}
		for _, c := range buf {
			if c < 252 && len(out) < NonceLen {
				out = append(out, nonceAlphabet[c%36])
			}
		}
	}
	return string(out), nil
}

// safeField reports whether s can go into a signed message and into an
// Authorization parameter as it is. A newline would shift the message's
// lines, so that one signature could be read as covering other values; a
// quote or a backslash would end the quoted header value early.
func safeField(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
