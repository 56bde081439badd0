package wechat

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Values that must never show up in an error's text.
const (
	testAppID  = "wx0123456789abcdef"
	testSecret = "SECRET-5f6e7d8c9b0a"
	testCode   = "CODE-0a1b2c3d4e"
)

// newTestClient starts an httptest server running h and returns a Client
// pointed at it.
func newTestClient(t *testing.T, h http.HandlerFunc) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &Client{BaseURL: srv.URL, HTTPClient: srv.Client()}
}

// answer writes body the way WeChat does: status 200, labelled text/plain.
func answer(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte(body))
}

// assertNoLeak fails if err's text contains any of the secrets.
func assertNoLeak(t *testing.T, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		return
	}
	msg := err.Error()
	for _, s := range secrets {
		if s != "" && strings.Contains(msg, s) {
			t.Errorf("error text %q leaks %q", msg, s)
		}
	}
}
