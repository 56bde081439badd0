// Package wechat is a small client for the WeChat Mini Program server APIs
// and the crypto around them (open data, signatures). It has no Caddy
// dependency and can be used on its own.
package wechat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultBaseURL is WeChat's API origin.
const DefaultBaseURL = "https://api.weixin.qq.com"

// MaxResponseBytes caps how much of an answer is read. WeChat's JSON
// answers are a few hundred bytes; anything near this cap is not WeChat.
const MaxResponseBytes = 64 << 10

// Client calls WeChat's server APIs. The zero value uses DefaultBaseURL
// and http.DefaultClient; set a deadline on the context to bound a call.
type Client struct {
	// BaseURL is the API origin, without a trailing slash.
	BaseURL string
	// HTTPClient sends the requests.
	HTTPClient *http.Client
	// Observe, when set, is called after every call with the API name,
	// its duration and its error (for metrics).
	Observe func(op string, d time.Duration, err error)
}

func (c *Client) base() string {
	if c.BaseURL == "" {
		return DefaultBaseURL
	}
	return strings.TrimRight(c.BaseURL, "/")
}

func (c *Client) httpClient() *http.Client {
	if c.HTTPClient == nil {
		return http.DefaultClient
	}
	return c.HTTPClient
}

// errorBody is the part every WeChat answer may carry.
type errorBody struct {
	ErrCode *int   `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

// Call sends one request to path (with query) and decodes the JSON answer
// into out, turning an errcode other than 0 into *APIError and any other
// failure into *TransportError. op names the API in errors and metrics.
// body, when not nil, is sent as JSON with POST.
//
// No error text carries a value that was sent (the secret, the code, the
// access_token): a server that echoes its request, in errmsg, a redirect
// or a malformed header, cannot push them into our logs.
func (c *Client) Call(ctx context.Context, op, path string, query url.Values, body any, out any) error {
	start := time.Now()
	err := c.call(ctx, op, path, query, body, out)
	if err != nil {
		err = redactSent(err, query, body)
	}
	if c.Observe != nil {
		c.Observe(op, time.Since(start), err)
	}
	return err
}

func (c *Client) call(ctx context.Context, op, path string, query url.Values, body any, out any) error {
	u := c.base() + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	method := http.MethodGet
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return &TransportError{Op: op, Kind: KindBadResponse, Reason: "encoding request: " + err.Error()}
		}
		method, rd = http.MethodPost, bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		// The URL error text would contain the query, so keep only its kind.
		return &TransportError{Op: op, Kind: KindUnreachable, Reason: "bad api_base"}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return transportError(op, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		return transportError(op, err)
	}
	if len(raw) > MaxResponseBytes {
		return &TransportError{Op: op, Kind: KindBadResponse, Reason: "answer larger than the cap"}
	}
	if resp.StatusCode != http.StatusOK {
		// Only the number: the reason phrase is the server's free text.
		return &TransportError{Op: op, Kind: KindBadResponse, Reason: "HTTP status " + strconv.Itoa(resp.StatusCode)}
	}
	return decodeAnswer(op, raw, out)
}

// decodeAnswer parses WeChat's JSON, which it labels text/plain, so the
// content type is not trusted either way.
func decodeAnswer(op string, raw []byte, out any) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return &TransportError{Op: op, Kind: KindBadResponse, Reason: "answer is not a JSON object"}
	}
	var eb errorBody
	if err := json.Unmarshal(raw, &eb); err != nil {
		return &TransportError{Op: op, Kind: KindBadResponse, Reason: "malformed JSON answer"}
	}
	if eb.ErrCode != nil && *eb.ErrCode != 0 {
		return &APIError{Op: op, Code: *eb.ErrCode, Message: eb.ErrMsg}
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return &TransportError{Op: op, Kind: KindBadResponse, Reason: "unexpected JSON shape"}
		}
	}
	return nil
}

// transportError keeps only the cause of a *url.Error, whose own text
// repeats the full URL.
func transportError(op string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	kind := KindUnreachable
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		kind = KindTimeout
	}
	return &TransportError{Op: op, Kind: kind, Reason: err.Error()}
}

// RetryBusy runs call, and again up to retries more times while it fails
// with errcode -1, waiting backoff, then twice that, between tries. It
// stops early when ctx ends and returns the last error.
func RetryBusy(ctx context.Context, retries int, backoff time.Duration, call func() error) error {
	err := call()
	for i := 0; i < retries && KindOf(err) == KindBusy; i++ {
		t := time.NewTimer(backoff << i)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		err = call()
	}
	return err
}
