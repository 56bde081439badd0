package wechat

import (
	"context"
	"encoding/base64"
	"net/url"
)

// Session is jscode2session's answer.
type Session struct {
	OpenID     string `json:"openid"`
	SessionKey string `json:"session_key"`
	UnionID    string `json:"unionid,omitempty"`
}

// String leaves the session_key out, so that a Session printed by mistake
// does not leak it.
func (s Session) String() string {
	return "Session{openid=" + s.OpenID + " unionid=" + s.UnionID + " session_key=[redacted]}"
}

// Code2Session exchanges a wx.login code for the user's openid and
// session_key (GET /sns/jscode2session).
func (c *Client) Code2Session(ctx context.Context, appID, secret, code string) (*Session, error) {
	q := url.Values{
		"appid":      {appID},
		"secret":     {secret},
		"js_code":    {code},
		"grant_type": {"authorization_code"},
	}
	var s Session
	if err := c.Call(ctx, "jscode2session", "/sns/jscode2session", q, nil, &s); err != nil {
		return nil, err
	}
	if s.OpenID == "" || s.SessionKey == "" {
		return nil, &TransportError{Op: "jscode2session", Kind: KindBadResponse, Reason: "answer without openid or session_key"}
	}
	if !ValidID(s.OpenID) || (s.UnionID != "" && !ValidID(s.UnionID)) || !ValidSessionKey(s.SessionKey) {
		// What WeChat sends ends up in a header and a token: an id with a
		// CR/LF or of any length, or a key that is not one, is not WeChat.
		return nil, &TransportError{Op: "jscode2session", Kind: KindBadResponse, Reason: "answer with a malformed openid, unionid or session_key"}
	}
	return &s, nil
}

// maxIDLength bounds an openid or unionid. WeChat's are 28 characters.
const maxIDLength = 64

// ValidID reports whether id has the shape of an openid or unionid: 1 to
// 64 ASCII letters, digits, '-' and '_'.
func ValidID(id string) bool {
	if id == "" || len(id) > maxIDLength {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// ValidSessionKey reports whether sk has the shape of a session_key: 16
// bytes in padded standard base64.
func ValidSessionKey(sk string) bool {
	b, err := base64.StdEncoding.Strict().DecodeString(sk)
	return err == nil && len(b) == 16
}

// maxCodeLength bounds a wx.login or getPhoneNumber code. WeChat's are 32
// characters; anything near this is not a code.
const maxCodeLength = 128

// ValidCode reports whether code can be a code from the WeChat client: 1
// to 128 bytes of printable ASCII. Anything else is refused before it is
// sent anywhere.
func ValidCode(code string) bool {
	if code == "" || len(code) > maxCodeLength {
		return false
	}
	for i := 0; i < len(code); i++ {
		if c := code[i]; c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}
