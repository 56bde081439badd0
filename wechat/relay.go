package wechat

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"time"
)

// RelayRequest is a call a trusted backend wants made with the app's
// access_token, as it would send it to WeChat without one.
type RelayRequest struct {
	Method      string
	Path        string // escaped, starting with '/'
	Query       url.Values
	ContentType string
	Body        []byte
}

// Relayed is WeChat's answer to a relayed call, with the access_token
// scrubbed from everything in it: a change on WeChat's side, or a
// hostile api_base, that echoes the token cannot hand it to the backend.
type Relayed struct {
	Status int
	// Header holds only the headers a backend needs (RelayedHeaders).
	Header http.Header
	// Whole is the body of an answer of at most MaxResponseBytes, read in
	// full; nil when the answer is streamed through Stream instead.
	Whole  []byte
	Stream io.ReadCloser
}

// RelayedHeaders are the answer headers passed on; cookies and WeChat's
// internal headers stay at the edge.
var RelayedHeaders = []string{"Content-Type", "Content-Disposition"}

// Relay sends req to WeChat with accessToken added (replacing any the
// backend sent) and returns the answer. Only the method, path, query,
// body and Content-Type are sent: the backend's Authorization, cookies and
// other headers never reach WeChat. Errors carry no trace of the token.
func (c *Client) Relay(ctx context.Context, accessToken string, req RelayRequest) (*Relayed, error) {
	start := time.Now()
	ans, err := c.relay(ctx, accessToken, req)
	if err != nil {
		err = redactError(err, accessToken)
	}
	if c.Observe != nil {
		// One label for every path: paths are the backend's choice, and a
		// label per path would grow the metric without bound.
		c.Observe("api", time.Since(start), err)
	}
	return ans, err
}

func (c *Client) relay(ctx context.Context, accessToken string, req RelayRequest) (*Relayed, error) {
	q := url.Values{}
	for k, vs := range req.Query {
		if k != "access_token" {
			q[k] = vs
		}
	}
	q.Set("access_token", accessToken)
	path := req.Path
	if path == "" || path[0] != '/' {
		path = "/" + path
	}
	var body io.Reader = http.NoBody
	if len(req.Body) > 0 {
		body = bytes.NewReader(req.Body)
	}
	hr, err := http.NewRequestWithContext(ctx, req.Method, c.base()+path+"?"+q.Encode(), body)
	if err != nil {
		return nil, &TransportError{Op: "api", Kind: KindUnreachable, Reason: "the request could not be built"}
	}
	if req.ContentType != "" {
		hr.Header.Set("Content-Type", req.ContentType)
	}
	resp, err := c.httpClient().Do(hr)
	if err != nil {
		return nil, transportError("api", err)
	}
	ans := &Relayed{Status: resp.StatusCode, Header: make(http.Header)}
	scrub := newRedactor(accessToken)
	for _, k := range RelayedHeaders {
		if v := resp.Header.Get(k); v != "" {
			ans.Header.Set(k, scrub.Replace(v))
		}
	}
	// Small answers are read whole, so that a stale-token errcode can be
	// seen; anything larger (a QR code image, a media file) is not an
	// error answer and is streamed, scrubbed as it goes.
	head, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		resp.Body.Close()
		return nil, transportError("api", err)
	}
	if len(head) <= MaxResponseBytes {
		resp.Body.Close()
		ans.Whole = []byte(scrub.Replace(string(head)))
		return ans, nil
	}
	rest := struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(head), resp.Body), resp.Body}
	ans.Stream = newScrubReader(rest, accessToken)
	return ans, nil
}

// StaleToken reports an answer whose errcode says the access_token is
// stale (40001, 40014, 42001), as an error AccessTokens.Do retries on.
func (a *Relayed) StaleToken() error {
	if a.Whole == nil {
		return nil
	}
	var eb struct {
		ErrCode int `json:"errcode"`
	}
	if json.Unmarshal(a.Whole, &eb) != nil {
		return nil
	}
	if e := (&APIError{Op: "api", Code: eb.ErrCode}); e.Kind() == KindToken {
		return e
	}
	return nil
}

// Close releases a streamed answer.
func (a *Relayed) Close() {
	if a != nil && a.Stream != nil {
		a.Stream.Close()
	}
}
