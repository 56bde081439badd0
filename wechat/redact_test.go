package wechat

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestErrorsNeverEchoSentValues answers like a server that echoes its
// request in every place an error can quote: errmsg (after "rid:"), a
// malformed redirect, a malformed header.
func TestErrorsNeverEchoSentValues(t *testing.T) {
	const secret, code = "SECRET-5f6e7d8c9b0a", "CODE a+b&c#d-0a1b2c"
	answers := map[string]func(w http.ResponseWriter, r *http.Request){
		"errmsg rid": func(w http.ResponseWriter, r *http.Request) {
			q := r.URL.Query()
			_, _ = w.Write([]byte(`{"errcode":1,"errmsg":"rid: ` + q.Get("secret") + ` ` + q.Get("js_code") + ` ` + r.URL.RawQuery + `"}`))
		},
		"bad redirect": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Location", "%"+r.URL.RawQuery)
			w.WriteHeader(http.StatusFound)
		},
		"bad header": func(w http.ResponseWriter, r *http.Request) {
			conn, buf, _ := w.(http.Hijacker).Hijack()
			defer conn.Close()
			_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nX-Echo: \x7f" + r.URL.Query().Get("secret") + r.URL.Query().Get("js_code") + "\r\n\r\n")
			_ = buf.Flush()
		},
	}
	for name, answer := range answers {
		srv := httptest.NewServer(http.HandlerFunc(answer))
		c := &Client{BaseURL: srv.URL, HTTPClient: srv.Client()}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := c.Code2Session(ctx, "wx0123456789abcdef", secret, code)
		cancel()
		srv.Close()
		if err == nil {
			t.Fatalf("%s: no error", name)
		}
		text := err.Error()
		if api, ok := err.(*APIError); ok {
			text += " " + api.Message
		}
		for _, s := range []string{secret, code, "CODE+a", "CODE%20a", "a%2Bb"} {
			if strings.Contains(text, s) {
				t.Errorf("%s: error text %q carries %q", name, text, s)
			}
		}
	}
}
