package wechat

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fuzzAnswer is what the fake jscode2session serves next. The fake
// expands $APPID, $SECRET and $CODE in the body and Location with the
// request's own values, as a server that echoes its request would.
type fuzzAnswer struct {
	mu          sync.Mutex
	status      int
	contentType string
	location    string
	body        []byte
}

func (a *fuzzAnswer) set(status int, contentType, location string, body []byte) {
	a.mu.Lock()
	a.status, a.contentType, a.location, a.body = status, contentType, location, body
	a.mu.Unlock()
}

func (a *fuzzAnswer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	status, ct, loc, body := a.status, a.contentType, a.location, a.body
	a.mu.Unlock()
	q := r.URL.Query()
	echo := strings.NewReplacer("$APPID", q.Get("appid"), "$SECRET", q.Get("secret"), "$CODE", q.Get("js_code"))
	if ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	if loc != "" {
		w.Header().Set("Location", echo.Replace(loc))
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(echo.Replace(string(body))))
}

// fuzzStatus maps any number onto a status the server can send.
func fuzzStatus(n uint16) int {
	s := int(n)
	if s < 100 || s > 999 {
		s = 100 + s%900
	}
	return s
}

// FuzzCode2SessionAnswer serves arbitrary answers (status, content type,
// Location, body) as jscode2session's. Code2Session must not panic; it
// returns a Session with openid and session_key, or an error of a defined
// Kind whose text never contains the secret or the code, even when the
// answer echoes them.
// fuzzCallTimeout bounds one call in the fuzz targets that talk HTTP.
const fuzzCallTimeout = 300 * time.Millisecond

func FuzzCode2SessionAnswer(f *testing.F) {
	ans := &fuzzAnswer{}
	srv := httptest.NewServer(ans)
	f.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	// Every host a redirect names is dialled at the fake, so the fuzzer
	// never reaches the network or waits on DNS.
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		},
		MaxIdleConnsPerHost: 4,
	}
	f.Cleanup(tr.CloseIdleConnections)
	// A short timeout: some answers (a 1xx that never becomes a final
	// status, say) leave the client waiting, and a fuzz worker must never
	// stall for seconds on one input.
	c := &Client{BaseURL: srv.URL, HTTPClient: &http.Client{Transport: tr, Timeout: fuzzCallTimeout}}

	const text = "text/plain"
	f.Add(uint16(200), text, "", []byte(`{"openid":"o1","session_key":"tiihtNczf5v6AKRyjwEUhQ=="}`))
	f.Add(uint16(200), text, "", []byte(`{"openid":"o1","session_key":"k","unionid":"u1"}`))
	f.Add(uint16(200), text, "", []byte(`{"errcode":0,"openid":"o1","session_key":"k"}`))
	f.Add(uint16(200), text, "", []byte(`{"errcode":40029,"errmsg":"invalid code, rid: 6543f1a2-0b1c2d3e-4f5a6b7c"}`))
	f.Add(uint16(200), text, "", []byte(`{"errcode":-1,"errmsg":"system error"}`))
	f.Add(uint16(200), text, "", []byte(`{"errcode":45011,"errmsg":"api minute-quota reach limit"}`))
	f.Add(uint16(200), text, "", []byte(`{"errcode":40163,"errmsg":"code been used, code: $CODE"}`))
	f.Add(uint16(200), text, "", []byte(`{"errcode":40125,"errmsg":"invalid appsecret $SECRET"}`))
	f.Add(uint16(200), text, "", []byte(`{"errcode":"40029"}`))
	f.Add(uint16(200), text, "", []byte(`{"errcode":null,"openid":"o1"}`))
	f.Add(uint16(200), text, "", []byte(`{"openid":"","session_key":""}`))
	f.Add(uint16(200), text, "", []byte(`{"openid":1}`))
	f.Add(uint16(200), text, "", []byte(`[{"openid":"o1"}]`))
	f.Add(uint16(200), text, "", []byte(` {"openid":"$SECRET","session_key":"$CODE"} `))
	f.Add(uint16(200), "application/json", "", []byte(`{"openid":"o1","session_key":"k"`))
	f.Add(uint16(200), "", "", []byte(""))
	f.Add(uint16(200), text, "", []byte("\xef\xbb\xbf{\"openid\":\"o1\",\"session_key\":\"k\"}"))
	f.Add(uint16(502), "text/html", "", []byte("<html><body><h1>502 Bad Gateway</h1></body></html>"))
	f.Add(uint16(500), text, "", []byte(`{"errcode":-1,"errmsg":"$SECRET"}`))
	f.Add(uint16(204), text, "", []byte(""))
	f.Add(uint16(100), text, "", []byte(`{"openid":"o1","session_key":"k"}`))
	f.Add(uint16(302), text, "/sns/jscode2session?secret=$SECRET&js_code=$CODE", []byte(""))
	f.Add(uint16(302), text, "http://%zz/", []byte(""))
	f.Add(uint16(307), text, "https://api.weixin.qq.com/sns/jscode2session?js_code=$CODE", []byte(""))

	f.Fuzz(func(t *testing.T, status uint16, contentType, location string, body []byte) {
		st := fuzzStatus(status)
		ans.set(st, contentType, location, body)
		ctx, cancel := context.WithTimeout(context.Background(), fuzzCallTimeout)
		defer cancel()
		s, err := c.Code2Session(ctx, testAppID, testSecret, testCode)
		// Anything but a 200 (after redirects and informational answers)
		// is not WeChat's answer: neither a session nor an errcode.
		redirect := location != "" && (st == 301 || st == 302 || st == 303 || st == 307 || st == 308)
		notOK := st >= 200 && st != 200 && !redirect
		if err == nil {
			if notOK {
				t.Fatalf("HTTP %d accepted as a session", st)
			}
			if s == nil || s.OpenID == "" || s.SessionKey == "" {
				t.Fatalf("success without openid or session_key: %+v", s)
			}
			if !strings.HasSuffix(s.String(), " session_key=[redacted]}") {
				t.Fatalf("Session.String leaks the session_key: %s", s)
			}
			return
		}
		if s != nil {
			t.Fatalf("session %+v returned with error %v", s, err)
		}
		k := KindOf(err)
		if k < KindUnknown || k > KindBadResponse {
			t.Fatalf("undefined kind %d for %v", k, err)
		}
		var api *APIError
		var te *TransportError
		if !errors.As(err, &api) && !errors.As(err, &te) {
			t.Fatalf("error %T %v is neither *APIError nor *TransportError", err, err)
		}
		if api != nil && notOK {
			t.Fatalf("HTTP %d taken for an errcode answer: %v", st, err)
		}
		msg := err.Error()
		for _, secret := range []string{testSecret, testCode} {
			if strings.Contains(msg, secret) {
				t.Fatalf("error text %q contains %q", msg, secret)
			}
		}
	})
}
