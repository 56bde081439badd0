package wechat

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

func TestStableTokenRequestShape(t *testing.T) {
	for _, force := range []bool{false, true} {
		c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPost || r.URL.Path != "/cgi-bin/stable_token" || r.URL.RawQuery != "" {
				t.Errorf("got %s %s", r.Method, r.URL)
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			var body map[string]any
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
				t.Error(err)
			}
			want := map[string]any{"grant_type": "client_credential", "appid": testAppID, "secret": testSecret, "force_refresh": force}
			if len(body) != len(want) {
				t.Errorf("body = %v", body)
			}
			for k, v := range want {
				if body[k] != v {
					t.Errorf("%s = %v, want %v", k, body[k], v)
				}
			}
			answer(w, `{"access_token":"TOKEN","expires_in":7200}`)
		})
		tok, exp, err := c.StableToken(context.Background(), testAppID, testSecret, force)
		if err != nil || tok != "TOKEN" || exp != 2*time.Hour {
			t.Errorf("got %q, %v, %v", tok, exp, err)
		}
	}
}

func TestStableTokenErrors(t *testing.T) {
	for _, tc := range []struct {
		body string
		kind Kind
	}{
		{`{"errcode":40125,"errmsg":"invalid appsecret"}`, KindConfig},
		{`{"errcode":40013,"errmsg":"invalid appid"}`, KindConfig},
		{`{"errcode":-1,"errmsg":"system error"}`, KindBusy},
		{`{"errcode":45009,"errmsg":"reach max api daily quota limit"}`, KindUnknown},
		{`{"access_token":"","expires_in":7200}`, KindBadResponse},
		{`{"access_token":"T","expires_in":0}`, KindBadResponse},
		{`{"access_token":"T","expires_in":-5}`, KindBadResponse},
		{`{"access_token":"T"}`, KindBadResponse},
		{`{"access_token":"T","expires_in":99999999999999}`, KindBadResponse},
	} {
		c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) { answer(w, tc.body) })
		tok, exp, err := c.StableToken(context.Background(), testAppID, testSecret, false)
		if err == nil || tok != "" || exp != 0 || KindOf(err) != tc.kind {
			t.Errorf("%s: got %q, %v, %v; want kind %v", tc.body, tok, exp, err, tc.kind)
		}
		assertNoLeak(t, err, testSecret)
	}
}
