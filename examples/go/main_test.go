package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func do(t *testing.T, req *http.Request) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	newHandler().ServeHTTP(rec, req)
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q", ct)
	}
	var got map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatalf("invalid JSON %q: %v", rec.Body.String(), err)
	}
	return rec, got
}

func TestMeReadsTrustedHeaders(t *testing.T) {
	req := httptest.NewRequest(http.MethodGet, "/api/me", nil)
	req.Header.Set("X-Openid", "o-123")
	req.Header.Set("X-Unionid", "u-456")
	req.Header.Set("X-Wechat-Appid", "wx-app")
	rec, got := do(t, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d", rec.Code)
	}
	want := map[string]any{"openid": "o-123", "unionid": "u-456", "appid": "wx-app"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

func TestMeOmitsUnknownUnionid(t *testing.T) {
	req := httptest.NewRequest(http.MethodGet, "/api/me", nil)
	req.Header.Set("X-Openid", "o-123")
	req.Header.Set("X-Wechat-Appid", "wx-app")
	rec, got := do(t, req)
	if rec.Code != http.StatusOK || got["openid"] != "o-123" || got["appid"] != "wx-app" {
		t.Fatalf("status %d, body %v", rec.Code, got)
	}
	if _, ok := got["unionid"]; ok {
		t.Errorf("unionid present for a user without one: %v", got)
	}
}

func TestMeAnonymousIsUnauthorized(t *testing.T) {
	rec, got := do(t, httptest.NewRequest(http.MethodGet, "/api/me", nil))
	if rec.Code != http.StatusUnauthorized || got["error"] != "unauthorized" || len(got) != 1 {
		t.Fatalf("status %d, body %v", rec.Code, got)
	}
}

func TestMeRejectsOtherMethods(t *testing.T) {
	req := httptest.NewRequest(http.MethodPost, "/api/me", nil)
	req.Header.Set("X-Openid", "o-123")
	rec, _ := do(t, req)
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET" {
		t.Fatalf("status %d, Allow %q", rec.Code, rec.Header().Get("Allow"))
	}
}

func TestEchoAuthenticated(t *testing.T) {
	req := httptest.NewRequest(http.MethodPost, "http://backend.local/orders/42?x=1", strings.NewReader(`{"qty":2}`))
	req.Header.Set("X-Openid", "o-123")
	req.Header.Set("X-Unionid", "u-456")
	req.Header.Set("X-Wechat-Appid", "wx-app")
	req.Header.Add("X-Custom", "a")
	req.Header.Add("X-Custom", "b")
	rec, got := do(t, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d", rec.Code)
	}
	for k, v := range map[string]any{
		"backend": "go", "method": "POST", "path": "/orders/42",
		"openid": "o-123", "unionid": "u-456", "appid": "wx-app", "body": `{"qty":2}`,
	} {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	headers, _ := got["headers"].(map[string]any)
	if h, _ := json.Marshal(headers["X-Custom"]); string(h) != `["a","b"]` {
		t.Errorf("X-Custom = %s", h)
	}
	if h, _ := json.Marshal(headers["X-Openid"]); string(h) != `["o-123"]` {
		t.Errorf("X-Openid = %s", h)
	}
	if h, _ := json.Marshal(headers["Host"]); string(h) != `["backend.local"]` {
		t.Errorf("Host = %s", h)
	}
}

func TestEchoAnonymous(t *testing.T) {
	rec, got := do(t, httptest.NewRequest(http.MethodGet, "/public", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d", rec.Code)
	}
	for _, k := range []string{"openid", "unionid", "appid", "body"} {
		if v, ok := got[k]; !ok || v != "" {
			t.Errorf("%s = %v (present %v), want empty string", k, v, ok)
		}
	}
	headers, _ := got["headers"].(map[string]any)
	if _, ok := headers["X-Openid"]; ok {
		t.Errorf("anonymous request echoed X-Openid: %v", headers)
	}
}

func TestEchoBodyIsCapped(t *testing.T) {
	big := strings.Repeat("a", maxEchoBody+100)
	rec, got := do(t, httptest.NewRequest(http.MethodPut, "/upload", strings.NewReader(big)))
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d", rec.Code)
	}
	if body, _ := got["body"].(string); len(body) != maxEchoBody {
		t.Errorf("body length = %d, want %d", len(body), maxEchoBody)
	}
}
