package testenv

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// Upstream is a real HTTP backend that records what reached it: the
// headers, and the trailers once it has read the body to its end.
type Upstream struct {
	*httptest.Server
	mu      sync.Mutex
	last    http.Header
	trailer http.Header
	hits    int
}

func NewUpstream(t *testing.T) *Upstream {
	u := &Upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		u.mu.Lock()
		u.last = r.Header.Clone()
		u.trailer = r.Trailer.Clone()
		u.hits++
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"path": r.URL.Path, "headers": r.Header})
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *Upstream) Received() (http.Header, int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.last, u.hits
}

func (u *Upstream) Trailers() http.Header {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.trailer
}

// RawRequest writes req as it is to port and returns the status and the
// whole response: for requests that net/http's client would not send

// BodyUpstream is a backend that records the last request's body too.
type BodyUpstream struct {
	*httptest.Server
	mu      sync.Mutex
	method  string
	header  http.Header
	trailer http.Header
	body    []byte
	hits    int
}

func NewBodyUpstream(t *testing.T) *BodyUpstream {
	u := &BodyUpstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.method, u.header, u.body, u.trailer = r.Method, r.Header.Clone(), b, r.Trailer.Clone()
		u.hits++
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"upstream":"ok"}`))
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *BodyUpstream) Last() (string, http.Header, []byte, int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.method, u.header, u.body, u.hits
}

func (u *BodyUpstream) Trailers() http.Header {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.trailer
}

// UDSessionKey is the fake's session_key for a login code: every code
