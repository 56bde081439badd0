package wechat

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
)

// SessionSignature is WeChat's user-state signature,
// hex(hmac_sha256(key = session_key, message)). The key is the session_key's
// base64 TEXT as bytes, not the decoded 16 bytes: using the decoded key,
// or swapping key and message, is the usual mistake and WeChat then
// answers 87009 for every user.
func SessionSignature(sessionKey, message string) string {
	m := hmac.New(sha256.New, []byte(sessionKey))
	m.Write([]byte(message))
	return hex.EncodeToString(m.Sum(nil))
}

// CheckSession asks WeChat whether sessionKey is still the user's current
// session_key (GET /wxa/checksession). A stale or wrong key fails with an
// *APIError of code CodeInvalidSession (87009). The key itself is not
// sent, only its signature of the empty message.
func (c *Client) CheckSession(ctx context.Context, accessToken, openID, sessionKey string) error {
	q := url.Values{
		"access_token": {accessToken},
		"signature":    {SessionSignature(sessionKey, "")},
		"openid":       {openID},
		"sig_method":   {"hmac_sha256"},
	}
	return c.Call(ctx, "checksession", "/wxa/checksession", q, nil, nil)
}
