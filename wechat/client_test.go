package wechat

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// code2SessionAgainst runs Code2Session against a server running h.
func code2SessionAgainst(t *testing.T, h http.HandlerFunc) error {
	t.Helper()
	c := newTestClient(t, h)
	s, err := c.Code2Session(context.Background(), testAppID, testSecret, testCode)
	if err == nil || s != nil {
		t.Fatalf("got %v, %v; want an error", s, err)
	}
	assertNoLeak(t, err, testSecret, testCode)
	return err
}

func TestCallJSONLabelledTextPlain(t *testing.T) {
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte(" \n{\"openid\":\"o\",\"session_key\":\"tiihtNczf5v6AKRyjwEUhQ==\"}\n"))
	})
	s, err := c.Code2Session(context.Background(), testAppID, testSecret, testCode)
	if err != nil || s.OpenID != "o" {
		t.Fatalf("got %v, %v", s, err)
	}
}

func TestCallBadAnswers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
	}{
		{"html", 200, "<html><body>502 Bad Gateway</body></html>"},
		{"empty", 200, ""},
		{"truncated JSON", 200, `{"openid":"o","session_key":"k`},
		{"errcode not a number", 200, `{"errcode":"40029"}`},
		{"wrong shape", 200, `{"openid":42,"session_key":"k"}`},
		{"JSON array", 200, `[{"openid":"o"}]`},
		{"non-200 with JSON", 502, `{"openid":"o","session_key":"k"}`},
		{"non-200 with errcode", 500, `{"errcode":-1}`},
		{"larger than cap", 200, `{"openid":"` + strings.Repeat("a", MaxResponseBytes) + `","session_key":"k"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := code2SessionAgainst(t, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			})
			if KindOf(err) != KindBadResponse {
				t.Errorf("err = %v, want bad_response", err)
			}
			if _, ok := ErrCode(err); ok {
				t.Errorf("ErrCode reports a code for %v", err)
			}
		})
	}
}

func TestCallHangingServerTimesOut(t *testing.T) {
	release := make(chan struct{})
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(release) }) // runs before the server closes
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Code2Session(ctx, testAppID, testSecret, testCode)
	if KindOf(err) != KindTimeout {
		t.Errorf("err = %v, want timeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v", d)
	}
	assertNoLeak(t, err, testSecret, testCode)
}

func TestCallConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := &Client{BaseURL: "http://" + addr}
	_, err = c.Code2Session(context.Background(), testAppID, testSecret, testCode)
	if KindOf(err) != KindUnreachable {
		t.Errorf("err = %v, want unreachable", err)
	}
	var te *TransportError
	if !errors.As(err, &te) || te.Op != "jscode2session" {
		t.Errorf("err = %#v", err)
	}
	assertNoLeak(t, err, testSecret, testCode)
}

func TestCallBadBaseURL(t *testing.T) {
	c := &Client{BaseURL: "http://bad host\x7f"}
	_, err := c.Code2Session(context.Background(), testAppID, testSecret, testCode)
	if KindOf(err) != KindUnreachable {
		t.Errorf("err = %v", err)
	}
	assertNoLeak(t, err, testSecret, testCode)
}

func TestRetryBusy(t *testing.T) {
	busy := &APIError{Op: "x", Code: CodeBusy}
	t.Run("succeeds after one busy", func(t *testing.T) {
		var calls int
		err := RetryBusy(context.Background(), 2, time.Millisecond, func() error {
			calls++
			if calls == 1 {
				return busy
			}
			return nil
		})
		if err != nil || calls != 2 {
			t.Errorf("err = %v, calls = %d", err, calls)
		}
	})
	t.Run("gives up after 2 retries", func(t *testing.T) {
		var calls int
		err := RetryBusy(context.Background(), 2, time.Millisecond, func() error { calls++; return busy })
		if KindOf(err) != KindBusy || calls != 3 {
			t.Errorf("err = %v, calls = %d", err, calls)
		}
	})
	t.Run("does not retry other errors", func(t *testing.T) {
		var calls int
		err := RetryBusy(context.Background(), 2, time.Millisecond, func() error {
			calls++
			return &APIError{Code: CodeInvalidCode}
		})
		if KindOf(err) != KindInvalidCode || calls != 1 {
			t.Errorf("err = %v, calls = %d", err, calls)
		}
	})
	t.Run("stops when ctx ends", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		var calls int
		start := time.Now()
		err := RetryBusy(ctx, 5, time.Hour, func() error { calls++; cancel(); return busy })
		if KindOf(err) != KindBusy || calls != 1 || time.Since(start) > time.Second {
			t.Errorf("err = %v, calls = %d, took %v", err, calls, time.Since(start))
		}
	})
	t.Run("with Code2Session", func(t *testing.T) {
		var n atomic.Int32
		c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
			if n.Add(1) == 1 {
				answer(w, `{"errcode":-1,"errmsg":"system error"}`)
				return
			}
			answer(w, `{"openid":"o","session_key":"tiihtNczf5v6AKRyjwEUhQ=="}`)
		})
		var s *Session
		err := RetryBusy(context.Background(), 2, time.Millisecond, func() (err error) {
			s, err = c.Code2Session(context.Background(), testAppID, testSecret, testCode)
			return err
		})
		if err != nil || s.OpenID != "o" || n.Load() != 2 {
			t.Errorf("s = %v, err = %v, requests = %d", s, err, n.Load())
		}
	})
}

func TestAPIErrorRID(t *testing.T) {
	for msg, want := range map[string]string{
		"invalid code, rid: 6650a1b2-3c4d5e6f-7a8b9c0d":    "6650a1b2-3c4d5e6f-7a8b9c0d",
		"code been used, rid:65f0a1b2-11223344-5566aabb x": "65f0a1b2-11223344-5566aabb",
		"system error":   "",
		"rid: ":          "",
		"":               "",
		"rid: abc; tail": "abc",
	} {
		e := &APIError{Op: "jscode2session", Code: 40029, Message: msg}
		if got := e.RID(); got != want {
			t.Errorf("RID(%q) = %q, want %q", msg, got, want)
		}
		text := e.Error()
		if want != "" && !strings.Contains(text, "(rid "+want+")") {
			t.Errorf("Error() = %q lacks rid", text)
		}
		if strings.Contains(text, "invalid code") || strings.Contains(text, "system error") {
			t.Errorf("Error() = %q carries errmsg", text)
		}
	}
}

func TestKindOfAndErrCodeOnForeignErrors(t *testing.T) {
	if k := KindOf(errors.New("x")); k != KindUnknown {
		t.Errorf("KindOf = %v", k)
	}
	if k := KindOf(nil); k != KindUnknown {
		t.Errorf("KindOf(nil) = %v", k)
	}
	if _, ok := ErrCode(&TransportError{Kind: KindTimeout}); ok {
		t.Error("ErrCode on a TransportError")
	}
	wrapped := errors.Join(errors.New("ctx"), &APIError{Code: CodeQuota})
	if KindOf(wrapped) != KindQuota {
		t.Errorf("wrapped KindOf = %v", KindOf(wrapped))
	}
	if s := Kind(-1).String(); s != "kind(-1)" {
		t.Errorf("Kind(-1) = %q", s)
	}
	if s := KindBadResponse.String(); s != "bad_response" {
		t.Errorf("KindBadResponse = %q", s)
	}
}
