// Package wechatpay is a client for the WeChat Pay API v3 and the crypto
// around it: request signing, verification of answers and notifications,
// AEAD_AES_256_GCM resources, platform certificates and the paySign of
// wx.requestPayment. It uses only the standard library and has no Caddy
// dependency.
//
// Keys never appear in error text, and a Merchant prints without its
// key. Every answer from WeChat Pay is verified over its raw bytes before
// it is returned, except a bill file (DownloadBill), which WeChat Pay
// does not sign.
package wechatpay

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultBaseURL is WeChat Pay's API origin.
const DefaultBaseURL = "https://api.mch.weixin.qq.com"

// DefaultUserAgent is sent when Client.UserAgent is empty. WeChat Pay
// asks for a User-Agent on every request and refuses some without one.
const DefaultUserAgent = "caddy-wechat-wechatpay/1 (+https://github.com/caddy-wechat/caddy-wechat)"

// MaxResponseBytes caps how much of an API answer is read. WeChat Pay's
// JSON answers are a few KB; a larger one is refused, not cut.
const MaxResponseBytes = 1 << 20

// Client calls the WeChat Pay API v3 as one merchant. Set the fields
// before first use; the zero BaseURL and HTTPClient mean DefaultBaseURL
// and http.DefaultClient. Redirects are never followed, whatever
// HTTPClient's policy: a signed request goes only where it was meant to,
// and a redirect answer is returned to verification as it is (and fails
// it). Set a deadline on the context to bound a call. A Client is safe
// for concurrent use once its fields are set; the Verifier's keys may be
// replaced meanwhile.
type Client struct {
	BaseURL    string // the API origin, without a trailing slash
	HTTPClient *http.Client
	Merchant   Merchant
	// Verifier holds WeChat Pay's keys. Answers signed by a key it does
	// not hold are refused; a nil Verifier refuses every answer.
	Verifier  *Verifier
	UserAgent string
	// Now is the clock used for timestamp checks; nil means time.Now.
	Now func() time.Time
	// MaxBillBytes caps DownloadBill; zero means DefaultMaxBillBytes.
	MaxBillBytes int64
	// Refresh, when set, is called when an answer names a
	// Wechatpay-Serial that the Verifier does not hold: WeChat Pay has
	// rotated its platform certificate, or the first download has not
	// finished yet. If it reports true (it has fetched the certificates
	// again), the same raw answer is verified once more; the request is
	// never sent again, since it may not be idempotent. It is not called
	// for any other failure.
	Refresh func(ctx context.Context, serial string) bool
}

// Response is a verified answer: its status, its headers and its raw
// body, the exact bytes that were signed.
type Response struct {
	StatusCode int
	Header     http.Header
	Body       []byte
}

// Do signs and sends one request and verifies the answer. pathQuery is
// the path and query, e.g. "/v3/pay/transactions/id/…?mchid=…"; body is
// sent as it is (JSON for WeChat Pay) and is what gets signed, so marshal
// it once and pass the bytes. An empty body sends none.
//
// Any status is returned once the answer's signature and timestamp are
// verified: WeChat Pay signs its error answers ({"code","message"}) too.
// An answer that fails verification is a *ResponseSignatureError and its
// body is not returned. A failure to get an answer is a *TransportError.
func (c *Client) Do(ctx context.Context, method, pathQuery string, body []byte) (*Response, error) {
	op := method + " " + pathOnly(pathQuery)
	if !strings.HasPrefix(pathQuery, "/") {
		// Without it, "@host/…" appended to BaseURL would change the host.
		return nil, errors.New("wechatpay: request path must start with /")
	}
	resp, raw, err := c.send(ctx, op, method, c.base()+pathQuery, body, MaxResponseBytes)
	if err != nil {
		return nil, err
	}
	err = c.Verifier.Verify(resp.Header, raw, c.now())
	if IsUnknownSerial(err) && c.Refresh != nil && c.Refresh(ctx, resp.Header.Get(HeaderSerial)) {
		err = c.Verifier.Verify(resp.Header, raw, c.now())
	}
	if err != nil {
		return nil, refused(op, resp.StatusCode, err)
	}
	return &Response{StatusCode: resp.StatusCode, Header: resp.Header, Body: raw}, nil
}

// IsUnknownSerial reports whether err is a *VerifyError (or wraps one)
// whose reason is ReasonUnknownSerial: the message names a key the
// Verifier does not hold, which a certificate download may cure.
func IsUnknownSerial(err error) bool {
	var ve *VerifyError
	return errors.As(err, &ve) && ve.Reason == ReasonUnknownSerial
}

// send signs and sends one request and reads the answer, up to limit
// bytes, without verifying it.
func (c *Client) send(ctx context.Context, op, method, rawURL string, body []byte, limit int64) (*http.Response, []byte, error) {
	if err := c.Merchant.Validate(); err != nil {
		return nil, nil, err
	}
	var rd io.Reader
	if len(body) > 0 {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, rawURL, rd)
	if err != nil {
		// The parser's text would repeat the URL.
		return nil, nil, &TransportError{Op: op, Reason: "bad request URL or method"}
	}
	// Sign the request URI as it will go on the wire, which can differ
	// from pathQuery once the URL parser has normalised its escaping.
	auth, err := c.Merchant.Authorization(method, req.URL.RequestURI(), body)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set("Accept", "application/json")
	if len(body) > 0 {
		req.Header.Set("Content-Type", "application/json")
	}
	ua := c.UserAgent
	if ua == "" {
		ua = DefaultUserAgent
	}
	req.Header.Set("User-Agent", ua)

	hc := *c.httpClient()
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := hc.Do(req)
	if err != nil {
		return nil, nil, transportError(op, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, nil, transportError(op, err)
	}
	if int64(len(raw)) > limit {
		return nil, nil, &TransportError{Op: op, Reason: "answer larger than the cap"}
	}
	return resp, raw, nil
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

func (c *Client) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}

// refused wraps a verification failure of an answer.
func refused(op string, status int, err error) error {
	var ve *VerifyError
	if !errors.As(err, &ve) {
		ve = &VerifyError{Reason: ReasonBadSignature}
	}
	return &ResponseSignatureError{Op: op, StatusCode: status, Err: ve}
}

// transportError keeps only the cause of a *url.Error, whose own text
// repeats the full URL, query included.
func transportError(op string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	te := &TransportError{Op: op, Reason: err.Error()}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		te.Timeout = true
	}
	return te
}

// pathOnly drops the query from pathQuery, for error text and metrics.
func pathOnly(pathQuery string) string {
	p, _, _ := strings.Cut(pathQuery, "?")
	return clip(sanitize(p), 120)
}
