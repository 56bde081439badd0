package wechat

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestDoRetriesOnceOnStaleToken(t *testing.T) {
	s := &tokenServer{}
	a := newAccessTokens(t, s)
	var seen []string
	err := a.Do(context.Background(), func(tok string) error {
		seen = append(seen, tok)
		if tok == "tok-1" {
			return &APIError{Op: "x", Code: CodeInvalidCredential}
		}
		return nil
	})
	if err != nil || len(seen) != 2 || seen[1] != "tok-2" || s.requests.Load() != 2 {
		t.Errorf("err = %v, tokens %v, %d requests", err, seen, s.requests.Load())
	}
	// The new token is cached.
	if tok, _ := a.Token(context.Background()); tok != "tok-2" || s.requests.Load() != 2 {
		t.Errorf("after Do: %q, %d requests", tok, s.requests.Load())
	}
}

func TestDoReturnsSecondStaleToken(t *testing.T) {
	for _, code := range []int{CodeInvalidCredential, CodeInvalidToken, CodeTokenExpired} {
		s := &tokenServer{}
		a := newAccessTokens(t, s)
		var seen []string
		err := a.Do(context.Background(), func(tok string) error {
			seen = append(seen, tok)
			return &APIError{Op: "x", Code: code}
		})
		if c, _ := ErrCode(err); c != code || len(seen) != 2 || s.requests.Load() != 2 {
			t.Errorf("%d: err = %v, tokens %v, %d requests", code, err, seen, s.requests.Load())
		}
		for _, tok := range seen {
			assertNoLeak(t, err, tok)
		}
	}
}

func TestDoDoesNotRetryOtherErrors(t *testing.T) {
	s := &tokenServer{}
	a := newAccessTokens(t, s)
	mine := errors.New("not a token problem")
	for _, want := range []error{mine, &APIError{Code: CodeInvalidCode}, nil} {
		calls := 0
		err := a.Do(context.Background(), func(string) error { calls++; return want })
		if err != want || calls != 1 {
			t.Errorf("err = %v, %d calls", err, calls)
		}
	}
	if s.requests.Load() != 1 {
		t.Errorf("%d requests", s.requests.Load())
	}
}

func TestDoKeepsTokenRefreshedMeanwhile(t *testing.T) {
	s := &tokenServer{}
	a := newAccessTokens(t, s)
	a.Cache = NewMemoryTokenCache()
	var seen []string
	err := a.Do(context.Background(), func(tok string) error {
		seen = append(seen, tok)
		if tok == "tok-1" {
			// Another instance stored a newer token before this failure
			// came back: it must survive the CompareAndDelete of tok-1.
			_ = a.Cache.Set(context.Background(), testAppID, "tok-other", time.Hour)
			return &APIError{Code: CodeTokenExpired}
		}
		return nil
	})
	if err != nil || len(seen) != 2 || seen[1] != "tok-other" || s.requests.Load() != 1 {
		t.Errorf("err = %v, tokens %v, %d requests", err, seen, s.requests.Load())
	}
}

func TestMemoryTokenCache(t *testing.T) {
	c := NewMemoryTokenCache()
	ctx := context.Background()
	if _, ok, _ := c.Get(ctx, "a"); ok {
		t.Fatal("empty cache hit")
	}
	_ = c.Set(ctx, "a", "new", time.Hour)
	_ = c.Set(ctx, "b", "other", time.Hour)
	_ = c.CompareAndDelete(ctx, "a", "old")
	if tok, ok, _ := c.Get(ctx, "a"); !ok || tok != "new" {
		t.Errorf("CompareAndDelete of an old token dropped the new one: %q, %v", tok, ok)
	}
	_ = c.CompareAndDelete(ctx, "a", "new")
	if _, ok, _ := c.Get(ctx, "a"); ok {
		t.Error("CompareAndDelete of the current token kept it")
	}
	if tok, _, _ := c.Get(ctx, "b"); tok != "other" {
		t.Errorf("other appid touched: %q", tok)
	}
	_ = c.Set(ctx, "b", "x", 0)
	if _, ok, _ := c.Get(ctx, "b"); ok {
		t.Error("ttl 0 stored an entry (go-cache would keep it forever)")
	}
	_ = c.Set(ctx, "c", "short", 30*time.Millisecond)
	time.Sleep(50 * time.Millisecond)
	if _, ok, _ := c.Get(ctx, "c"); ok {
		t.Error("expired entry returned")
	}
}

// failingCache fails every call, as a store that is down would.
type failingCache struct{}

var errCacheDown = errors.New("cache down")

func (failingCache) Get(context.Context, string) (string, bool, error) {
	return "", false, errCacheDown
}
func (failingCache) Set(context.Context, string, string, time.Duration) error {
	return errCacheDown
}
func (failingCache) CompareAndDelete(context.Context, string, string) error { return errCacheDown }

// TestAccessTokensSurviveACacheOutage: a failing cache is a miss, not a
// failed call, and every failure is reported.
func TestAccessTokensSurviveACacheOutage(t *testing.T) {
	a := newAccessTokens(t, &tokenServer{})
	var reported atomic.Int32
	a.Cache = failingCache{}
	a.OnCacheError = (func(err error) {
		if errors.Is(err, errCacheDown) {
			reported.Add(1)
		}
	})
	tok, err := a.Token(context.Background())
	if err != nil || tok == "" {
		t.Fatalf("token with the cache down: %q %v", tok, err)
	}
	if reported.Load() < 2 { // the Get before the fetch, and the Set after it
		t.Fatalf("%d cache errors reported", reported.Load())
	}
}
