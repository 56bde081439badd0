package wechat

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// tokenServer is a fake stable_token endpoint handing out tok-1, tok-2, …
type tokenServer struct {
	requests  atomic.Int32
	expiresIn int           // seconds; 7200 when zero
	errBody   string        // when set, answered instead of a token
	gate      chan struct{} // when set, each request waits for it to close
	entered   chan struct{} // when set, signalled as each request arrives
}

func (s *tokenServer) handle(t *testing.T) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		n := s.requests.Add(1)
		var body struct {
			ForceRefresh *bool `json:"force_refresh"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.ForceRefresh == nil || *body.ForceRefresh {
			t.Errorf("force_refresh must be sent as false: %v", err)
		}
		if s.entered != nil {
			s.entered <- struct{}{}
		}
		if s.gate != nil {
			<-s.gate
		}
		if s.errBody != "" {
			answer(w, s.errBody)
			return
		}
		exp := s.expiresIn
		if exp == 0 {
			exp = 7200
		}
		answer(w, fmt.Sprintf(`{"access_token":"tok-%d","expires_in":%d}`, n, exp))
	}
}

func newAccessTokens(t *testing.T, s *tokenServer) *AccessTokens {
	return &AccessTokens{Client: newTestClient(t, s.handle(t)), AppID: testAppID, Secret: testSecret}
}

func TestAccessTokensSingleFlight(t *testing.T) {
	s := &tokenServer{gate: make(chan struct{}), entered: make(chan struct{}, 200)}
	a := newAccessTokens(t, s)
	var refreshes atomic.Int32
	a.OnRefresh = func() { refreshes.Add(1) }
	const n = 100
	tokens := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tokens[i], errs[i] = a.Token(context.Background())
		}()
	}
	<-s.entered
	// Give every goroutine time to reach Token while the fetch hangs; a
	// broken single flight would send more requests now.
	time.Sleep(100 * time.Millisecond)
	close(s.gate)
	wg.Wait()
	if got := s.requests.Load(); got != 1 {
		t.Errorf("%d stable_token requests, want 1", got)
	}
	for i := range n {
		if errs[i] != nil || tokens[i] != "tok-1" {
			t.Fatalf("caller %d: %q, %v", i, tokens[i], errs[i])
		}
	}
	if tok, err := a.Token(context.Background()); err != nil || tok != "tok-1" || s.requests.Load() != 1 {
		t.Errorf("cached: %q, %v, %d requests", tok, err, s.requests.Load())
	}
	if refreshes.Load() != 1 {
		t.Errorf("OnRefresh called %d times", refreshes.Load())
	}
}

func TestAccessTokensWaiterRespectsOwnContext(t *testing.T) {
	s := &tokenServer{gate: make(chan struct{}), entered: make(chan struct{}, 10)}
	a := newAccessTokens(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := a.Token(ctx); KindOf(err) != KindTimeout || time.Since(start) > time.Second {
		t.Fatalf("err = %v after %v, want a timeout at once", err, time.Since(start))
	}
	// The fetch goes on for other callers; a new caller joins it.
	done := make(chan string)
	go func() {
		tok, _ := a.Token(context.Background())
		done <- tok
	}()
	<-s.entered
	close(s.gate)
	if tok := <-done; tok != "tok-1" || s.requests.Load() != 1 {
		t.Errorf("got %q after %d requests", tok, s.requests.Load())
	}
}

// ttlCache records the ttl of each Set.
type ttlCache struct {
	TokenCache
	mu   sync.Mutex
	ttls []time.Duration
}

func (c *ttlCache) Set(ctx context.Context, appID, token string, ttl time.Duration) error {
	c.mu.Lock()
	c.ttls = append(c.ttls, ttl)
	c.mu.Unlock()
	return c.TokenCache.Set(ctx, appID, token, ttl)
}

func TestAccessTokensRefreshMargin(t *testing.T) {
	for _, tc := range []struct {
		expiresIn int
		margin    time.Duration
		want      time.Duration
	}{
		{7200, 0, 7200*time.Second - DefaultRefreshMargin},
		{7200, 10 * time.Minute, 7200*time.Second - 10*time.Minute},
		{7200, 3 * time.Hour, time.Hour},
		{2, 0, time.Second},
		{2, 500 * time.Millisecond, 1500 * time.Millisecond},
		{1, -time.Second, 500 * time.Millisecond},
	} {
		s := &tokenServer{expiresIn: tc.expiresIn}
		a := newAccessTokens(t, s)
		c := &ttlCache{TokenCache: NewMemoryTokenCache()}
		a.Cache, a.RefreshMargin = c, tc.margin
		if _, err := a.Token(context.Background()); err != nil {
			t.Fatal(err)
		}
		if len(c.ttls) != 1 || c.ttls[0] != tc.want {
			t.Errorf("expires_in %d, margin %v: ttls %v, want %v", tc.expiresIn, tc.margin, c.ttls, tc.want)
		}
	}
}

func TestAccessTokensExpiry(t *testing.T) {
	s := &tokenServer{expiresIn: 1}
	a := newAccessTokens(t, s)
	a.RefreshMargin = 800 * time.Millisecond // capped at 500ms: cached 500ms
	ctx := context.Background()
	if tok, _ := a.Token(ctx); tok != "tok-1" {
		t.Fatalf("first token %q", tok)
	}
	if tok, _ := a.Token(ctx); tok != "tok-1" || s.requests.Load() != 1 {
		t.Fatalf("within ttl: %q after %d requests", tok, s.requests.Load())
	}
	time.Sleep(600 * time.Millisecond)
	if tok, _ := a.Token(ctx); tok != "tok-2" || s.requests.Load() != 2 {
		t.Fatalf("after ttl: %q after %d requests", tok, s.requests.Load())
	}
}

func TestAccessTokensErrorsPassThrough(t *testing.T) {
	s := &tokenServer{errBody: `{"errcode":40125,"errmsg":"invalid appsecret rid: 1a2b"}`}
	a := newAccessTokens(t, s)
	var refreshes atomic.Int32
	a.OnRefresh = func() { refreshes.Add(1) }
	for range 2 {
		_, err := a.Token(context.Background())
		if code, _ := ErrCode(err); code != CodeInvalidSecret || KindOf(err) != KindConfig {
			t.Fatalf("err = %v", err)
		}
		assertNoLeak(t, err, testSecret)
	}
	// Failures are not cached, and not counted as refreshes.
	if s.requests.Load() != 2 || refreshes.Load() != 0 {
		t.Errorf("%d requests, %d refreshes", s.requests.Load(), refreshes.Load())
	}
	calls := 0
	err := a.Do(context.Background(), func(string) error { calls++; return nil })
	if KindOf(err) != KindConfig || calls != 0 {
		t.Errorf("Do: %v, %d calls", err, calls)
	}
}
