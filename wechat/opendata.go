package wechat

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
)

// Open data errors. They are sentinels so that a caller can map them with
// errors.Is: ErrBadInput (and ErrPlusAsSpace, which wraps it) means the
// request itself is malformed (HTTP 400); ErrNotOpened means well-formed
// input that does not decrypt under this session_key, usually a stale key
// after a new wx.login (HTTP 422); ErrWatermark means data meant for
// another app. No error text ever includes the key, the IV or the data.
var (
	ErrBadInput    = errors.New("wechat: malformed open data")
	ErrPlusAsSpace = fmt.Errorf("%w: base64 contains a space, probably a '+' decoded as a space on the way (URL-encode the field)", ErrBadInput)
	ErrNotOpened   = errors.New("wechat: open data does not decrypt under this session_key")
	ErrWatermark   = errors.New("wechat: open data watermark does not name this appid")
)

// DecryptData opens wx open data (encryptedData + iv) with the user's
// session_key: AES-128-CBC with PKCS#7 padding, every field standard
// base64. It is strict because lenient decoders hide the real cause
// (a mangled '+', a stale key) behind garbage output, and it never panics.
//
// Padding and JSON failures return the same ErrNotOpened on purpose: the
// scheme has no MAC, and telling them apart would be a padding oracle that
// lets a client forge open data. Callers should still rate-limit failures.
// The plaintext is a JSON object; check it with CheckWatermark.
//
// Integrity: CBC without a MAC is malleable. Whoever holds a valid
// encryptedData can flip bits of the IV and so rewrite the first 16 bytes
// of the plaintext at will ({"gender":1,… can become {"vip":true,…), and
// the watermark, further in, still checks. Treat the result as data the
// user's client could have chosen, not as data WeChat vouches for.
func DecryptData(sessionKey, encryptedData, iv string) ([]byte, error) {
	key, err := decodeField("session_key", sessionKey, 16)
	if err != nil {
		return nil, err
	}
	ivb, ct, err := decodeEncrypted(encryptedData, iv)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil { // unreachable: the key is 16 bytes
		return nil, fmt.Errorf("%w: %v", ErrBadInput, err)
	}
	plain := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, ivb).CryptBlocks(plain, ct)
	n, ok := unpad(plain)
	if !ok || !isJSONObject(plain[:n]) {
		return nil, ErrNotOpened
	}
	return plain[:n], nil
}

// CheckEncrypted reports whether encryptedData and iv are well formed
// (padded standard base64, a 16-byte IV, whole AES blocks), without any
// key: a caller can refuse malformed input before it counts an attempt.
func CheckEncrypted(encryptedData, iv string) error {
	_, _, err := decodeEncrypted(encryptedData, iv)
	return err
}

func decodeEncrypted(encryptedData, iv string) (ivb, ct []byte, err error) {
	if ivb, err = decodeField("iv", iv, 16); err != nil {
		return nil, nil, err
	}
	if ct, err = decodeField("encryptedData", encryptedData, 0); err != nil {
		return nil, nil, err
	}
	if len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
		return nil, nil, fmt.Errorf("%w: encryptedData is not a whole number of AES blocks", ErrBadInput)
	}
	return ivb, ct, nil
}

// EncryptData is DecryptData's inverse, for simulators and tests that must
// produce encryptedData for a mock user. It returns standard base64.
func EncryptData(sessionKey string, plain []byte, iv []byte) (string, error) {
	key, err := decodeField("session_key", sessionKey, 16)
	if err != nil {
		return "", err
	}
	if len(iv) != aes.BlockSize {
		return "", fmt.Errorf("%w: iv must be 16 bytes", ErrBadInput)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadInput, err)
	}
	pad := aes.BlockSize - len(plain)%aes.BlockSize
	buf := make([]byte, len(plain)+pad)
	copy(buf, plain)
	for i := len(plain); i < len(buf); i++ {
		buf[i] = byte(pad)
	}
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(buf, buf)
	return base64.StdEncoding.EncodeToString(buf), nil
}

// CheckWatermark checks that decrypted open data carries
// watermark.appid == appID, so that data obtained by another mini program
// cannot be replayed to this one.
func CheckWatermark(plain []byte, appID string) error {
	var v struct {
		Watermark struct {
			AppID string `json:"appid"`
		} `json:"watermark"`
	}
	if err := json.Unmarshal(plain, &v); err != nil {
		return fmt.Errorf("%w: no readable watermark", ErrWatermark)
	}
	if appID == "" || v.Watermark.AppID != appID {
		return ErrWatermark
	}
	return nil
}

// ErrOpenID means open data that names another user.
var ErrOpenID = errors.New("wechat: open data names another openid")

// CheckOpenID checks that decrypted open data which carries an openId (the
// user info of wx.getUserInfo/getUserProfile) names openID. Data without
// one (share info, WeRun) passes: there is nothing to compare.
func CheckOpenID(plain []byte, openID string) error {
	var v struct {
		OpenID *string `json:"openId"`
	}
	if err := json.Unmarshal(plain, &v); err != nil {
		return fmt.Errorf("%w: unreadable", ErrOpenID)
	}
	if v.OpenID != nil && (openID == "" || *v.OpenID != openID) {
		return ErrOpenID
	}
	return nil
}

// VerifyRawData checks wx.getUserInfo's signature, hex(sha1(rawData +
// sessionKey)) where sessionKey is the base64 text, in constant time.
// An empty session_key never verifies: anyone could compute that hash.
func VerifyRawData(rawData, signature, sessionKey string) bool {
	if sessionKey == "" {
		return false
	}
	want := sha1.Sum([]byte(rawData + sessionKey))
	got, err := hex.DecodeString(signature)
	if err != nil || len(got) != len(want) {
		return false
	}
	return subtle.ConstantTimeCompare(got, want[:]) == 1
}
