package login

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/caddy-wechat/caddy-wechat/internal/reply"
	"github.com/caddy-wechat/caddy-wechat/internal/reply/replytest"
	"github.com/caddy-wechat/caddy-wechat/wechat"
)

// FuzzLoginBody sends arbitrary bodies and Content-Types to
// readRequest. It must not panic, must not write a response itself,
// and must return either a request with a non-empty code or a 400/413
// apiError (413 exactly when the body is over the cap).
func FuzzLoginBody(f *testing.F) {
	const form, js = "application/x-www-form-urlencoded", "application/json"
	f.Add([]byte(`{"code":"alice.1"}`), js)
	f.Add([]byte(`{"code":"alice.1","appid":"wx0123456789abcdef"}`), "application/json; charset=utf-8")
	f.Add([]byte(`{"code":""}`), js)
	f.Add([]byte(`{"code":null}`), js)
	f.Add([]byte(`{"code":1}`), js)
	f.Add([]byte(`{"CODE":"x","Code":"y"}`), js)
	f.Add([]byte(`{"code":"a\u0000b"}`), js)
	f.Add([]byte(`{"code":"x"}{"code":"y"}`), js)
	f.Add([]byte(`["code"]`), js)
	f.Add([]byte(`null`), js)
	f.Add([]byte(``), js)
	f.Add([]byte(`code=alice.1&appid=wx0123456789abcdef`), form)
	f.Add([]byte(`code=alice.1`), "Application/X-WWW-Form-Urlencoded; charset=UTF-8")
	f.Add([]byte(`code=%zz`), form)
	f.Add([]byte(`code=a;b`), form)
	f.Add([]byte(`code=&code=x`), form)
	f.Add([]byte(` {"code":"curl-d"}`), form)
	f.Add([]byte(`{"code":"x"}`), "")
	f.Add([]byte(`{"code":"x"}`), "text/plain;;;")
	f.Add([]byte(`{"code":"x"}`), "multipart/form-data; boundary=x")
	f.Add([]byte(`{"code":"`+strings.Repeat("a", maxBody-11)+`"}`), js)
	f.Add([]byte(`{"code":"`+strings.Repeat("a", maxBody)+`"}`), js)
	f.Add(bytes.Repeat([]byte{0xff}, 100), form)
	f.Add([]byte(`{"code":"a","code":"b"}`), js)
	f.Add([]byte(`code=a&appid=wx0123456789abcdef&appid=wx0123456789abcdef`), form)
	f.Add([]byte(`{"code":"`+strings.Repeat("c", 129)+`"}`), js)
	f.Add([]byte("code=a%0Ab"), form)

	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		r := httptest.NewRequest(http.MethodPost, "/login", bytes.NewReader(body))
		if contentType != "" {
			r.Header.Set("Content-Type", contentType)
		}
		w := httptest.NewRecorder()
		req, aerr := readRequest(w, r)
		if w.Body.Len() != 0 || len(w.Header()) != 0 {
			t.Fatalf("readRequest wrote a response: %v %q", w.Header(), w.Body)
		}
		if (req == nil) == (aerr == nil) {
			t.Fatalf("request %+v and error %v", req, aerr)
		}
		if aerr != nil {
			if aerr.Status != http.StatusBadRequest && aerr.Status != http.StatusRequestEntityTooLarge {
				t.Fatalf("status %d: %v", aerr.Status, aerr)
			}
			if (aerr.Status == http.StatusRequestEntityTooLarge) != (len(body) > maxBody) {
				t.Fatalf("status %d for a %d-byte body", aerr.Status, len(body))
			}
			if aerr.Code == "" || aerr.Message == "" {
				t.Fatalf("error without code or message: %+v", aerr)
			}
			return
		}
		if !wechat.ValidCode(req.Code) {
			t.Fatalf("accepted a code that is not printable ASCII of 1 to 128 bytes: %q", req.Code)
		}
		if form, err := url.ParseQuery(string(body)); reply.IsForm(r, body) && err == nil {
			for k, vs := range form {
				if len(vs) > 1 {
					t.Fatalf("accepted a form that gives %q twice", k)
				}
			}
		} else if dup, _ := replytest.DuplicateKey(body); dup {
			t.Fatalf("accepted JSON that repeats a key: %q", body)
		}
		if len(body) > maxBody {
			t.Fatalf("accepted a %d-byte body", len(body))
		}
	})
}
