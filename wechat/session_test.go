package wechat

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

func TestCode2SessionSuccess(t *testing.T) {
	for _, tc := range []struct {
		name, body, unionID string
	}{
		{"with unionid", `{"openid":"oOPEN","session_key":"tiihtNczf5v6AKRyjwEUhQ==","unionid":"oUNION"}`, "oUNION"},
		{"without unionid", `{"openid":"oOPEN","session_key":"tiihtNczf5v6AKRyjwEUhQ=="}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodGet || r.URL.Path != "/sns/jscode2session" {
					t.Errorf("got %s %s", r.Method, r.URL.Path)
				}
				q := r.URL.Query()
				if q.Get("appid") != testAppID || q.Get("secret") != testSecret || q.Get("js_code") != testCode || q.Get("grant_type") != "authorization_code" {
					t.Errorf("query = %v", q)
				}
				answer(w, tc.body)
			})
			s, err := c.Code2Session(context.Background(), testAppID, testSecret, testCode)
			if err != nil {
				t.Fatal(err)
			}
			if s.OpenID != "oOPEN" || s.SessionKey != "tiihtNczf5v6AKRyjwEUhQ==" || s.UnionID != tc.unionID {
				t.Errorf("session = %+v", *s)
			}
		})
	}
}

func TestCode2SessionErrcodes(t *testing.T) {
	for _, tc := range []struct {
		code int
		kind Kind
	}{
		{-1, KindBusy},
		{40029, KindInvalidCode},
		{40163, KindInvalidCode},
		{40226, KindBlocked},
		{45011, KindQuota},
		{40013, KindConfig},
		{40125, KindConfig},
		{41002, KindConfig},
		{61234, KindUnknown},
	} {
		t.Run(strconv.Itoa(tc.code), func(t *testing.T) {
			c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
				// errmsg echoing the code, as WeChat's free text may.
				answer(w, `{"errcode":`+strconv.Itoa(tc.code)+`,"errmsg":"bad `+testCode+`, rid: 6650a1b2-3c4d5e6f-7a8b9c0d"}`)
			})
			s, err := c.Code2Session(context.Background(), testAppID, testSecret, testCode)
			if s != nil || err == nil {
				t.Fatalf("got %v, %v", s, err)
			}
			if k := KindOf(err); k != tc.kind {
				t.Errorf("KindOf = %v, want %v", k, tc.kind)
			}
			if code, ok := ErrCode(err); !ok || code != tc.code {
				t.Errorf("ErrCode = %d, %v", code, ok)
			}
			var api *APIError
			if !errors.As(err, &api) || api.Op != "jscode2session" || api.RID() != "6650a1b2-3c4d5e6f-7a8b9c0d" {
				t.Errorf("APIError = %#v", api)
			}
			if !strings.Contains(err.Error(), "errcode "+strconv.Itoa(tc.code)) {
				t.Errorf("error text %q lacks the errcode", err)
			}
			assertNoLeak(t, err, testSecret, testCode)
		})
	}
}

func TestCode2SessionCodeArrivesIntact(t *testing.T) {
	const code = "a&b#c+d e=f%20g?h/i"
	got := make(chan string, 1)
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		got <- r.URL.Query().Get("js_code")
		if n := len(r.URL.Query()); n != 4 {
			t.Errorf("query has %d keys: %v", n, r.URL.Query())
		}
		answer(w, `{"openid":"o","session_key":"tiihtNczf5v6AKRyjwEUhQ=="}`)
	})
	if _, err := c.Code2Session(context.Background(), testAppID, testSecret, code); err != nil {
		t.Fatal(err)
	}
	if g := <-got; g != code {
		t.Errorf("server got js_code %q, want %q", g, code)
	}
}

func TestCode2SessionIncompleteAnswer(t *testing.T) {
	for _, body := range []string{`{}`, `{"openid":"o"}`, `{"session_key":"k"}`, `{"errcode":0,"openid":"o"}`} {
		c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) { answer(w, body) })
		_, err := c.Code2Session(context.Background(), testAppID, testSecret, testCode)
		if KindOf(err) != KindBadResponse {
			t.Errorf("%s: err = %v, want bad_response", body, err)
		}
	}
}

func TestSessionStringRedactsKey(t *testing.T) {
	s := Session{OpenID: "oOPEN", SessionKey: "tiihtNczf5v6AKRyjwEUhQ==", UnionID: "oUNION"}
	str := s.String()
	if strings.Contains(str, s.SessionKey) || !strings.Contains(str, "oOPEN") || !strings.Contains(str, "oUNION") {
		t.Errorf("String() = %q", str)
	}
}

// TestCode2SessionRefusesMalformedIDs: what WeChat sends ends up in a
// header and a token, so an answer that is not shaped like WeChat's is a
// bad response (hardening round 2, defect 8).
func TestCode2SessionRefusesMalformedIDs(t *testing.T) {
	const sk = "tiihtNczf5v6AKRyjwEUhQ=="
	bad := map[string]string{
		"openid with CRLF":       `{"openid":"oOPEN\r\nX-Openid: forged","session_key":"` + sk + `"}`,
		"openid of 4000 chars":   `{"openid":"` + strings.Repeat("o", 4000) + `","session_key":"` + sk + `"}`,
		"openid of 65 chars":     `{"openid":"` + strings.Repeat("o", 65) + `","session_key":"` + sk + `"}`,
		"openid with a space":    `{"openid":"o OPEN","session_key":"` + sk + `"}`,
		"openid with a dot":      `{"openid":"o.OPEN","session_key":"` + sk + `"}`,
		"openid non-ASCII":       `{"openid":"oÖPEN","session_key":"` + sk + `"}`,
		"unionid with LF":        `{"openid":"oOPEN","unionid":"u\n","session_key":"` + sk + `"}`,
		"session_key short":      `{"openid":"oOPEN","session_key":"dGlpaA=="}`,
		"session_key unpadded":   `{"openid":"oOPEN","session_key":"tiihtNczf5v6AKRyjwEUhQ"}`,
		"session_key url-safe":   `{"openid":"oOPEN","session_key":"tiihtNczf5v6AKRyjwEU-_=="}`,
		"session_key of 32 byte": `{"openid":"oOPEN","session_key":"dGlpaHROY3pmNXY2QUtSeWp3RVVoUXRpaWh0TmN6Zg=="}`,
	}
	for name, body := range bad {
		c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) { answer(w, body) })
		s, err := c.Code2Session(context.Background(), testAppID, testSecret, testCode)
		if KindOf(err) != KindBadResponse || s != nil {
			t.Errorf("%s: s = %v, err = %v, want bad_response", name, s, err)
		}
	}
	ok := `{"openid":"` + strings.Repeat("o", 64) + `","unionid":"u-_9Z","session_key":"` + sk + `"}`
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) { answer(w, ok) })
	if _, err := c.Code2Session(context.Background(), testAppID, testSecret, testCode); err != nil {
		t.Errorf("a 64-character openid is refused: %v", err)
	}
}

func TestValidCode(t *testing.T) {
	for code, want := range map[string]bool{
		"":                          false,
		"0a3Xbc":                    true,
		"a&b#c+d e=f?":              true,
		strings.Repeat("c", 128):    true,
		strings.Repeat("c", 129):    false,
		strings.Repeat("c", 3000):   false,
		"code\x00":                  false,
		"code\r\n":                  false,
		"\xff\xfe":                  false,
		"c\u00f6de":                 false,
		"tab\tinside":               false,
		"~!@#$%^&*()_+{}|:\"<>?`-=": true,
	} {
		if got := ValidCode(code); got != want {
			t.Errorf("ValidCode(%.40q) = %v, want %v", code, got, want)
		}
	}
}
