package wechat

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
)

func TestSessionSignaturePublishedExample(t *testing.T) {
	const want = "654571f79995b2ce1e149e53c0a33dc39c0a74090db514261454e8dbe432aa0b"
	if got := SessionSignature("o0q0otL8aEzpcZL/FT9WsQ==", `{"foo":"bar"}`); got != want {
		t.Errorf("SessionSignature = %s, want %s", got, want)
	}
	// The two usual mistakes must not match: key and message swapped,
	// and the decoded key bytes used as the key.
	swapped := hmac.New(sha256.New, []byte(`{"foo":"bar"}`))
	swapped.Write([]byte("o0q0otL8aEzpcZL/FT9WsQ=="))
	decoded := hmac.New(sha256.New, mustB64(t, "o0q0otL8aEzpcZL/FT9WsQ=="))
	decoded.Write([]byte(`{"foo":"bar"}`))
	for _, m := range []string{hex.EncodeToString(swapped.Sum(nil)), hex.EncodeToString(decoded.Sum(nil))} {
		if m == want {
			t.Error("a wrong construction gives the published value")
		}
	}
}

func TestCheckSession(t *testing.T) {
	const (
		token   = "ACCESS-TOKEN-9f8e7d"
		openID  = "oGZUI0egBJY1zhBYw2KhdUfwVJJE"
		key     = "o0q0otL8aEzpcZL/FT9WsQ=="
		message = "" // checksession signs the empty message
	)
	for _, tc := range []struct {
		name, body string
		code       int // 0: success
	}{
		{"valid key", `{"errcode":0,"errmsg":"ok"}`, 0},
		{"stale key", `{"errcode":87009,"errmsg":"invalid signature rid: 66aa-bb"}`, CodeInvalidSession},
		{"stale token", `{"errcode":40001,"errmsg":"invalid credential"}`, CodeInvalidCredential},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodGet || r.URL.Path != "/wxa/checksession" {
					t.Errorf("got %s %s", r.Method, r.URL.Path)
				}
				q := r.URL.Query()
				want := map[string]string{
					"access_token": token,
					"signature":    SessionSignature(key, message),
					"openid":       openID,
					"sig_method":   "hmac_sha256",
				}
				if len(q) != len(want) {
					t.Errorf("query = %v", q)
				}
				for k, v := range want {
					if q.Get(k) != v {
						t.Errorf("%s = %q, want %q", k, q.Get(k), v)
					}
				}
				if strings.Contains(r.URL.RawQuery, "o0q0otL8aEzpcZL") {
					t.Error("session_key sent to WeChat")
				}
				answer(w, tc.body)
			})
			err := c.CheckSession(context.Background(), token, openID, key)
			if code, _ := ErrCode(err); code != tc.code || (tc.code == 0) != (err == nil) {
				t.Fatalf("err = %v, want errcode %d", err, tc.code)
			}
			assertNoLeak(t, err, token, key)
		})
	}
}
