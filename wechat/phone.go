package wechat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/url"
)

// PhoneInfo is the phone_info of getuserphonenumber.
type PhoneInfo struct {
	PhoneNumber     string `json:"phoneNumber"`     // with country code when outside mainland China
	PurePhoneNumber string `json:"purePhoneNumber"` // without country code
	CountryCode     string `json:"countryCode"`
	Watermark       struct {
		Timestamp int64  `json:"timestamp"`
		AppID     string `json:"appid"`
	} `json:"watermark"`
}

// UnmarshalJSON accepts countryCode as a JSON string or a number: WeChat
// has sent both ("86" and 86), and a plain string field would fail the
// whole answer on the number form.
func (p *PhoneInfo) UnmarshalJSON(b []byte) error {
	type plain PhoneInfo
	aux := struct {
		*plain
		CountryCode json.RawMessage `json:"countryCode"`
	}{plain: (*plain)(p)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	cc, err := stringOrNumber(aux.CountryCode)
	p.CountryCode = cc
	return err
}

// stringOrNumber reads a JSON string, number or null as text.
func stringOrNumber(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	if raw[0] == '"' {
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return "", errors.New("countryCode is neither a string nor a number")
	}
	return n.String(), nil
}

// PhoneNumber exchanges a getPhoneNumber button code for the user's phone
// number (POST /wxa/business/getuserphonenumber). openID, when not empty,
// makes WeChat check that the code belongs to that user. Each successful
// call is billed to the app, and the code is single use.
func (c *Client) PhoneNumber(ctx context.Context, accessToken, code, openID string) (*PhoneInfo, error) {
	body := struct {
		Code   string `json:"code"`
		OpenID string `json:"openid,omitempty"`
	}{code, openID}
	var out struct {
		PhoneInfo *PhoneInfo `json:"phone_info"`
	}
	const op = "getuserphonenumber"
	q := url.Values{"access_token": {accessToken}}
	if err := c.Call(ctx, op, "/wxa/business/getuserphonenumber", q, body, &out); err != nil {
		return nil, err
	}
	if out.PhoneInfo == nil || out.PhoneInfo.PhoneNumber == "" {
		return nil, &TransportError{Op: op, Kind: KindBadResponse, Reason: "answer without phone_info"}
	}
	return out.PhoneInfo, nil
}
