package wechat

import (
	"context"
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
	return &s, nil
}
