package wechat

import (
	"bytes"
	"crypto/aes"
	"crypto/subtle"
	"encoding/json"
)

// unpad checks PKCS#7 padding on whole AES blocks and returns the length
// of the data before it. Every pad byte is checked, and the pad value must
// be 1..16, because a loose check (only the last byte, or none) turns a
// wrong session_key into garbage plaintext, or into a panic in SDKs that
// slice by an out-of-range pad byte. It runs in constant time over the
// last block so that its timing does not act as a padding oracle.
func unpad(b []byte) (int, bool) {
	n := len(b)
	if n == 0 || n%aes.BlockSize != 0 {
		return 0, false
	}
	p := int(b[n-1])
	good := subtle.ConstantTimeLessOrEq(1, p) & subtle.ConstantTimeLessOrEq(p, aes.BlockSize)
	for i := 1; i <= aes.BlockSize; i++ {
		inPad := subtle.ConstantTimeLessOrEq(i, p)
		same := subtle.ConstantTimeByteEq(b[n-i], byte(p))
		good &= same | (1 ^ inPad)
	}
	if good != 1 {
		return 0, false
	}
	return n - p, true
}

// isJSONObject reports whether b is one valid JSON object. Decrypting
// with a wrong key that happens to leave valid padding (about 1 in 256)
// yields random bytes, which this rejects.
func isJSONObject(b []byte) bool {
	t := bytes.TrimLeft(b, " \t\r\n")
	return len(t) > 0 && t[0] == '{' && json.Valid(t)
}
