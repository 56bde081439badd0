package wechat

import (
	"context"
	"time"
)

// StableToken fetches an access_token from POST /cgi-bin/stable_token.
// Unlike the classic /cgi-bin/token, in normal mode (forceRefresh false)
// it does not invalidate the token other servers of the same app hold, so
// several instances can fetch independently. forceRefresh=true does
// invalidate it and is limited to 20 calls a day; use it only on an
// operator's explicit request.
func (c *Client) StableToken(ctx context.Context, appID, secret string, forceRefresh bool) (token string, expiresIn time.Duration, err error) {
	body := struct {
		GrantType    string `json:"grant_type"`
		AppID        string `json:"appid"`
		Secret       string `json:"secret"`
		ForceRefresh bool   `json:"force_refresh"`
	}{"client_credential", appID, secret, forceRefresh}
	var out struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	const op = "stable_token"
	if err := c.Call(ctx, op, "/cgi-bin/stable_token", nil, body, &out); err != nil {
		return "", 0, err
	}
	// Bound expires_in so that the Duration cannot overflow; WeChat sends 7200.
	if out.AccessToken == "" || out.ExpiresIn <= 0 || out.ExpiresIn > 1<<31 {
		return "", 0, &TransportError{Op: op, Kind: KindBadResponse, Reason: "answer without access_token or a valid expires_in"}
	}
	return out.AccessToken, time.Duration(out.ExpiresIn) * time.Second, nil
}
