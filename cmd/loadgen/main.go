// Command loadgen is the soak driver (.ci/soak): from a second process it
// drives mixed load against a running caddy-wechat edge for a set time,
// and checks that nothing forged gets through and that Caddy's memory and
// goroutines do not grow.
//
// It starts its own upstream (-upstream-addr), which the edge's
// reverse_proxy must point at, and mixes:
//
//   - logins: POST /login with a fresh code "soak<N>.<run>-<i>" for the
//     wechat_mock simulator behind the edge (user N is worker N, so each
//     worker has one stable openid); each worker logs in again every
//     -relogin, so the edge's token caches stay bounded;
//   - authenticated GETs to -path with the worker's latest token;
//   - forged tokens (alg none, wrong key, tampered claims, expired), which
//     must get 401;
//   - forged identity headers (X-Openid, x_openid, X.Openid, … with the
//     value "forged"), with a valid token (must reach the upstream with
//     the token's identity only) and without one (must get 401);
//   - the same names as request trailers, with a valid token, and named
//     in Connection (which would make the proxy delete the gate's own).
//
// The upstream counts every request that arrives with an X-Openid that is
// not the openid of a token the loadgen got from a login, or not the one
// the request was sent with, any identity header under another spelling,
// any header value containing "forged", or a bearer token.
//
// Before the run's measured part (after -warmup) and at its end, load is
// paused, and Caddy's RSS (/proc/<pid>/status VmRSS) and go_goroutines
// (from the admin API's /metrics) are sampled. It prints a report, writes
// it to -report, and exits 1 if any check fails: an unexpected status, a
// forgery that reached the upstream, or growth of 10% or more.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/caddy-wechat/caddy-wechat/internal/oracle"
)

// maxGrowth is the largest growth, in percent, that still passes.
const maxGrowth = 10.0

type config struct {
	edge         string
	path         string
	appID        string
	duration     time.Duration
	warmup       time.Duration
	relogin      time.Duration
	concurrency  int
	pid          int
	metricsURL   string
	reportPath   string
	upstreamAddr string
	signingKey   string
}

func main() {
	var c config
	flag.StringVar(&c.edge, "edge", "http://localhost:8080", "the edge's origin: wechat_login at /login, wechat_auth in front of -path")
	flag.StringVar(&c.path, "path", "/soak", "a path behind a required wechat_auth (not optional) that is proxied to the upstream")
	flag.StringVar(&c.appID, "appid", "", "appid sent with each login (empty: the edge's only app)")
	flag.DurationVar(&c.duration, "duration", 10*time.Minute, "how long to run, warm-up included")
	flag.DurationVar(&c.warmup, "warmup", 10*time.Second, "load before the start sample")
	flag.DurationVar(&c.relogin, "relogin", 2*time.Second, "how often each worker logs in again")
	flag.IntVar(&c.concurrency, "concurrency", 16, "concurrent workers")
	flag.IntVar(&c.pid, "pid", 0, "Caddy's pid, to sample its RSS from /proc/<pid>/status (0: not sampled)")
	flag.StringVar(&c.metricsURL, "metrics", "http://localhost:2019/metrics", "Caddy's admin /metrics, for go_goroutines (empty: not sampled)")
	flag.StringVar(&c.reportPath, "report", "", "file to write the report to")
	flag.StringVar(&c.upstreamAddr, "upstream-addr", "127.0.0.1:9300", "where the loadgen's own upstream listens")
	flag.StringVar(&c.signingKey, "signing-key", os.Getenv("SOAK_SIGNING_KEY"), "the edge's HS256 signing_key, to forge expired but correctly signed tokens (default $SOAK_SIGNING_KEY; empty: the expired kind is skipped)")
	flag.Parse()
	if c.concurrency < 1 || c.duration <= c.warmup {
		fmt.Fprintln(os.Stderr, "loadgen: need -concurrency >= 1 and -duration > -warmup")
		os.Exit(2)
	}
	c.edge = strings.TrimRight(c.edge, "/")

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ok, err := run(ctx, c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

// ---- the upstream ----------------------------------------------------

// upstream is the echo server behind the edge. It trusts nothing it
// receives and counts what should never arrive.
type upstream struct {
	openids sync.Map // openids the loadgen got from logins

	requests       atomic.Int64
	forgedIdentity atomic.Int64 // X-Openid not from a login, or not the expected one
	otherSpelling  atomic.Int64 // an identity header under a non-canonical name
	forgedValue    atomic.Int64 // any header value containing "forged"
	forgedTrailer  atomic.Int64 // an identity name or "forged" value among the trailers
	// droppedIdentity counts X-Openid arriving without X-Wechat-Appid: a
	// client's Connection header made the proxy delete one the gate set.
	droppedIdentity atomic.Int64
	bearerLeaked    atomic.Int64 // the bearer token reached the upstream
	anonymous       atomic.Int64 // no X-Openid at all (the gate is required: never)

	mu      sync.Mutex
	samples []string // the first few offending requests, for the report
}

// expectHeader carries the openid a request was sent for; it is not an
// identity header, so the gate passes it on untouched.
const expectHeader = "X-Soak-Expect"

// identityName is a header the edge sets for backends to trust, in any
// spelling.
func identityName(name string) bool { return oracle.IsTrustedName(name) }

func (u *upstream) note(format string, args ...any) {
	u.mu.Lock()
	if len(u.samples) < 10 {
		u.samples = append(u.samples, fmt.Sprintf(format, args...))
	}
	u.mu.Unlock()
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.requests.Add(1)
	// Read to the end first: net/http fills in the trailers only then.
	_, _ = io.Copy(io.Discard, r.Body)
	for name, vs := range r.Trailer {
		if identityName(name) || strings.Contains(strings.ToLower(strings.Join(vs, ",")), "forged") {
			u.forgedTrailer.Add(1)
			u.note("trailer %s: %q reached the upstream", name, vs)
		}
	}
	if r.Header.Get("X-Openid") != "" && r.Header.Get("X-Wechat-Appid") == "" {
		u.droppedIdentity.Add(1)
		u.note("X-Openid without X-Wechat-Appid reached the upstream (Connection %q)", r.Header.Get("Connection"))
	}
	openids := r.Header.Values("X-Openid")
	want := r.Header.Get(expectHeader)
	switch {
	case len(openids) == 0:
		u.anonymous.Add(1)
		u.note("request without X-Openid reached the upstream (expected %q)", want)
	case len(openids) > 1:
		u.forgedIdentity.Add(1)
		u.note("several X-Openid values: %q", openids)
	default:
		if _, ok := u.openids.Load(openids[0]); !ok || openids[0] != want {
			u.forgedIdentity.Add(1)
			u.note("X-Openid %q reached the upstream (logged in: %v, expected %q)", openids[0], ok, want)
		}
	}
	for name, vs := range r.Header {
		if identityName(name) && name != "X-Openid" && name != "X-Unionid" && name != "X-Wechat-Appid" {
			u.otherSpelling.Add(1)
			u.note("identity header %q: %q reached the upstream", name, vs)
		}
		for _, v := range vs {
			if strings.Contains(strings.ToLower(v), "forged") {
				u.forgedValue.Add(1)
				u.note("header %s: %q reached the upstream", name, v)
			}
		}
	}
	if a := r.Header.Get("Authorization"); strings.Contains(strings.ToLower(a), "bearer") {
		u.bearerLeaked.Add(1)
		u.note("the bearer token reached the upstream")
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"openid": r.Header.Get("X-Openid")})
}

// ---- the workers -----------------------------------------------------

type kind int

const (
	kLogin kind = iota
	kAuthGET
	kNoToken
	kForgedHeaderWithToken
	kForgedHeaderNoToken
	kAlgNone
	kWrongKey
	kTampered
	kExpired
	kForgedTrailers
	kConnectionDrop
	nKinds
)

var kindNames = [nKinds]string{
	"login", "authenticated GET", "no token", "forged headers + valid token",
	"forged headers, no token", "forged token: alg none", "forged token: wrong key",
	"forged token: tampered", "forged token: expired",
	"forged trailers + valid token", "Connection naming identity",
}

// mix is the rotation of request kinds after logins; each worker starts
// at its own offset.
var mix = []kind{
	kAuthGET, kAuthGET, kForgedHeaderWithToken, kAuthGET, kAlgNone, kAuthGET,
	kForgedHeaderNoToken, kAuthGET, kWrongKey, kAuthGET, kTampered, kAuthGET,
	kNoToken, kAuthGET, kExpired, kForgedHeaderWithToken,
	kForgedTrailers, kAuthGET, kConnectionDrop, kAuthGET,
}

// forgedHeaders are the identity header spellings sent with "forged".
var forgedHeaders = []string{
	"X-Openid", "x-openid", "X-OPENID", "X_Openid", "x_openid", "X.Openid", "x.openid",
	"X-Unionid", "X_Unionid", "x_unionid", "X.Unionid",
	"X-Wechat-Appid", "x_wechat_appid", "X.Wechat.Appid", "x.wechat.appid", "X_WECHAT-APPID",
}

type stats struct {
	mu         sync.Mutex
	byKind     [nKinds]int64
	unexpected [nKinds]int64
	byStatus   [nKinds]map[int]int64
	samples    []string
}

func (s *stats) record(k kind, status int, ok bool, detail string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byKind[k]++
	if s.byStatus[k] == nil {
		s.byStatus[k] = map[int]int64{}
	}
	s.byStatus[k][status]++
	if !ok {
		s.unexpected[k]++
		if len(s.samples) < 10 {
			s.samples = append(s.samples, fmt.Sprintf("%s: status %d %s", kindNames[k], status, detail))
		}
	}
}

type worker struct {
	id      int
	c       config
	run     int64
	client  *http.Client
	up      *upstream
	st      *stats
	seq     int
	token   string
	openid  string
	loginAt time.Time
}

// pause lets the sampler stop the load: workers hold it for reading
// during each request, the sampler takes it for writing.
var pause sync.RWMutex

func (w *worker) loop(ctx context.Context) {
	for i := w.id; ctx.Err() == nil; i++ {
		pause.RLock()
		if w.token == "" || time.Since(w.loginAt) >= w.c.relogin {
			w.login(ctx)
		}
		if w.token != "" {
			w.do(ctx, mix[i%len(mix)])
		}
		pause.RUnlock()
	}
}

func (w *worker) login(ctx context.Context) {
	w.seq++
	code := fmt.Sprintf("soak%d.%d-%d", w.id, w.run, w.seq)
	body, _ := json.Marshal(map[string]string{"code": code, "appid": w.c.appID})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, w.c.edge+"/login", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	status, raw, err := w.send(req)
	if ctx.Err() != nil {
		return
	}
	var ans struct {
		Token  string `json:"token"`
		OpenID string `json:"openid"`
	}
	ok := err == nil && status == http.StatusOK && json.Unmarshal(raw, &ans) == nil && ans.Token != "" && ans.OpenID != ""
	w.st.record(kLogin, status, ok, errText(err, raw))
	if ok {
		w.up.openids.Store(ans.OpenID, true)
		w.token, w.openid, w.loginAt = ans.Token, ans.OpenID, time.Now()
	}
}

func (w *worker) do(ctx context.Context, k kind) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, w.c.edge+w.c.path, nil)
	want := http.StatusUnauthorized
	switch k {
	case kAuthGET:
		req.Header.Set("Authorization", "Bearer "+w.token)
		req.Header.Set(expectHeader, w.openid)
		want = http.StatusOK
	case kNoToken:
	case kForgedHeaderWithToken, kForgedHeaderNoToken:
		for j := 0; j < 3; j++ {
			name := forgedHeaders[(w.seq*3+j+w.id)%len(forgedHeaders)]
			req.Header[name] = append(req.Header[name], "forged")
		}
		if k == kForgedHeaderWithToken {
			req.Header.Set("Authorization", "Bearer "+w.token)
			req.Header.Set(expectHeader, w.openid)
			want = http.StatusOK
		}
	case kForgedTrailers:
		// A chunked POST that declares identity trailers and sends them
		// after the body, as a backend that merges trailers would read.
		req, _ = http.NewRequestWithContext(ctx, http.MethodPost, w.c.edge+w.c.path, io.MultiReader(strings.NewReader("{}")))
		req.Trailer = http.Header{}
		for j := 0; j < 3; j++ {
			name := forgedHeaders[(w.seq*3+j+w.id)%len(forgedHeaders)]
			req.Trailer[name] = []string{"forged"}
		}
		req.Header.Set("Authorization", "Bearer "+w.token)
		req.Header.Set(expectHeader, w.openid)
		want = http.StatusOK
	case kConnectionDrop:
		// Names the gate's own headers as hop-by-hop, which would make
		// the proxy delete them after the gate set them.
		name := forgedHeaders[(w.seq+w.id)%len(forgedHeaders)]
		req.Header.Set("Connection", "keep-alive, "+name+", X-Wechat-Appid")
		req.Header.Set("Authorization", "Bearer "+w.token)
		req.Header.Set(expectHeader, w.openid)
		want = http.StatusOK
	case kAlgNone, kWrongKey, kTampered, kExpired:
		tok, ok := w.forge(k)
		if !ok {
			return // expired needs -signing-key
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set(expectHeader, "refused")
	}
	status, raw, err := w.send(req)
	if ctx.Err() != nil {
		return
	}
	ok := err == nil && status == want
	if ok && want == http.StatusUnauthorized {
		var e struct {
			Error string `json:"error"`
		}
		ok = json.Unmarshal(raw, &e) == nil && (e.Error == "unauthorized" || e.Error == "invalid_token")
	}
	w.st.record(k, status, ok, errText(err, raw))
}

func (w *worker) send(req *http.Request) (int, []byte, error) {
	resp, err := w.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, raw, err
}

func errText(err error, raw []byte) string {
	if err != nil {
		return err.Error()
	}
	if len(raw) > 200 {
		raw = raw[:200]
	}
	return strings.TrimSpace(string(raw))
}

// ---- forged tokens ---------------------------------------------------

var b64 = base64.RawURLEncoding

func segment(v any) string {
	b, _ := json.Marshal(v)
	return b64.EncodeToString(b)
}

func hs256(key []byte, signing string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(signing))
	return b64.EncodeToString(m.Sum(nil))
}

// forge makes a token of kind k from the worker's real token: the kid is
// copied from it, so each forgery fails for its own reason only. Every
// forged token names the user "forged-…", so one that got through shows
// at the upstream.
func (w *worker) forge(k kind) (string, bool) {
	parts := strings.Split(w.token, ".")
	if len(parts) != 3 {
		return "", false
	}
	var hdr map[string]any
	var claims map[string]any
	hb, err1 := b64.DecodeString(parts[0])
	cb, err2 := b64.DecodeString(parts[1])
	if err1 != nil || err2 != nil || json.Unmarshal(hb, &hdr) != nil || json.Unmarshal(cb, &claims) != nil {
		return "", false
	}
	now := time.Now()
	claims["sub"] = fmt.Sprintf("forged-%d", w.id)
	claims["iat"], claims["exp"] = now.Unix(), now.Add(time.Hour).Unix()
	switch k {
	case kAlgNone:
		hdr["alg"] = "none"
		return segment(hdr) + "." + segment(claims) + ".", true
	case kWrongKey:
		key := make([]byte, 48)
		_, _ = rand.Read(key)
		s := segment(hdr) + "." + segment(claims)
		return s + "." + hs256(key, s), true
	case kTampered:
		// The real signature over claims naming someone else.
		return parts[0] + "." + segment(claims) + "." + parts[2], true
	case kExpired:
		if w.c.signingKey == "" {
			return "", false
		}
		claims["iat"], claims["exp"] = now.Add(-3*time.Hour).Unix(), now.Add(-2*time.Hour).Unix()
		s := segment(hdr) + "." + segment(claims)
		return s + "." + hs256([]byte(w.c.signingKey), s), true
	}
	return "", false
}

// checkSigningKey shows that -signing-key is the edge's key, so that the
// expired tokens are refused for their exp and not for their signature:
// a fresh token signed the same way, for the worker's own openid, must
// pass.
func (w *worker) checkSigningKey(ctx context.Context) error {
	w.login(ctx)
	if w.token == "" {
		return errors.New("the first login failed")
	}
	parts := strings.Split(w.token, ".")
	hb, _ := b64.DecodeString(parts[0])
	cb, _ := b64.DecodeString(parts[1])
	var hdr, claims map[string]any
	if json.Unmarshal(hb, &hdr) != nil || json.Unmarshal(cb, &claims) != nil {
		return errors.New("the edge's token is not a JWT")
	}
	if hdr["alg"] != "HS256" {
		return fmt.Errorf("the edge signs with %v, not HS256", hdr["alg"])
	}
	claims["jti"] = "soak-key-check"
	sig := segment(hdr) + "." + segment(claims)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, w.c.edge+w.c.path, nil)
	req.Header.Set("Authorization", "Bearer "+sig+"."+hs256([]byte(w.c.signingKey), sig))
	req.Header.Set(expectHeader, w.openid)
	status, raw, err := w.send(req)
	if err != nil || status != http.StatusOK {
		return fmt.Errorf("a token signed with -signing-key got %d %s: is it the edge's signing_key?", status, errText(err, raw))
	}
	return nil
}

// ---- sampling --------------------------------------------------------

type sample struct {
	at         time.Time
	rssKB      int64 // -1: not sampled
	goroutines int64 // -1: not sampled
	errs       []string
}

// takeSample pauses the load, lets in-flight requests settle, and reads
// Caddy's RSS and goroutines.
func takeSample(c config, client *http.Client, upstream *http.Server) sample {
	pause.Lock()
	defer pause.Unlock()
	// The same state at both samples: no request in flight and no
	// connection open, neither ours to Caddy nor Caddy's pooled ones to the
	// upstream, whose number follows the recent load, not a leak.
	client.CloseIdleConnections()
	upstream.SetKeepAlivesEnabled(false) // also closes its idle connections
	defer upstream.SetKeepAlivesEnabled(true)
	time.Sleep(time.Second)
	s := sample{at: time.Now(), rssKB: -1, goroutines: -1}
	if c.pid > 0 {
		kb, err := readRSS(c.pid)
		if err != nil {
			s.errs = append(s.errs, "rss: "+err.Error())
		} else {
			s.rssKB = kb
		}
	}
	if c.metricsURL != "" {
		n, err := readGoroutines(client, c.metricsURL)
		if err != nil {
			s.errs = append(s.errs, "go_goroutines: "+err.Error())
		} else {
			s.goroutines = n
		}
	}
	return s
}

func readRSS(pid int) (int64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			fields := strings.Fields(rest)
			if len(fields) == 0 {
				break
			}
			return strconv.ParseInt(fields[0], 10, 64)
		}
	}
	return 0, errors.New("no VmRSS line")
}

func readGoroutines(client *http.Client, u string) (int64, error) {
	resp, err := client.Get(u)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s: HTTP %d", u, resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return int64(v), err
		}
	}
	return 0, errors.New("no go_goroutines in " + u)
}

func growth(start, end int64) float64 {
	if start <= 0 {
		return 0
	}
	return float64(end-start) / float64(start) * 100
}

// ---- the run ---------------------------------------------------------

func waitReady(ctx context.Context, client *http.Client, edge string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, edge+"/login", nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusMethodNotAllowed {
				return nil
			}
			err = fmt.Errorf("GET %s/login: HTTP %d, want 405 from wechat_login", edge, resp.StatusCode)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("the edge is not ready: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func run(ctx context.Context, c config) (bool, error) {
	up := &upstream{}
	ln, err := net.Listen("tcp", c.upstreamAddr)
	if err != nil {
		return false, fmt.Errorf("upstream: %v", err)
	}
	srv := &http.Server{Handler: up, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 5 * time.Minute}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	client := &http.Client{
		Timeout: 15 * time.Second,
		Transport: &http.Transport{
			Proxy:               nil,
			MaxIdleConns:        c.concurrency * 2,
			MaxIdleConnsPerHost: c.concurrency * 2,
			IdleConnTimeout:     90 * time.Second,
		},
	}
	if err := waitReady(ctx, client, c.edge); err != nil {
		return false, err
	}

	st := &stats{}
	runID := time.Now().UnixNano()
	keyErr := ""
	if c.signingKey != "" {
		check := &worker{id: c.concurrency, c: c, run: runID, client: client, up: up, st: st}
		if err := check.checkSigningKey(ctx); err != nil {
			keyErr = err.Error()
		}
	}
	loadCtx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for i := 0; i < c.concurrency; i++ {
		w := &worker{id: i, c: c, run: runID, client: client, up: up, st: st}
		wg.Add(1)
		go func() { defer wg.Done(); w.loop(loadCtx) }()
	}

	began := time.Now()
	interrupted := false
	sleep := func(d time.Duration) {
		select {
		case <-ctx.Done():
			interrupted = true
		case <-time.After(d):
		}
	}
	sleep(c.warmup)
	var start sample
	if !interrupted {
		start = takeSample(c, client, srv)
		sleep(c.duration - time.Since(began))
	}
	stopLoad()
	wg.Wait()
	end := takeSample(c, client, srv)
	if interrupted {
		start = end
	}

	report, ok := buildReport(c, st, up, start, end, time.Since(began), interrupted, keyErr)
	fmt.Print(report)
	if c.reportPath != "" {
		if err := os.WriteFile(c.reportPath, []byte(report), 0o644); err != nil {
			return false, err
		}
	}
	return ok, nil
}

func buildReport(c config, st *stats, up *upstream, start, end sample, took time.Duration, interrupted bool, keyErr string) (string, bool) {
	var b strings.Builder
	ok := true
	check := func(pass bool, format string, args ...any) {
		mark := "ok  "
		if !pass {
			mark, ok = "FAIL", false
		}
		fmt.Fprintf(&b, "  [%s] %s\n", mark, fmt.Sprintf(format, args...))
	}

	st.mu.Lock()
	defer st.mu.Unlock()
	var total, unexpected int64
	for k := kind(0); k < nKinds; k++ {
		total += st.byKind[k]
		unexpected += st.unexpected[k]
	}
	fmt.Fprintf(&b, "caddy-wechat soak report\n")
	fmt.Fprintf(&b, "  edge %s, path %s, %d workers, %s (warm-up %s), relogin every %s\n", c.edge, c.path, c.concurrency, took.Round(time.Second), c.warmup, c.relogin)
	fmt.Fprintf(&b, "  requests: %d (%.0f/s)\n", total, float64(total)/took.Seconds())
	for k := kind(0); k < nKinds; k++ {
		var codes []string
		for code, n := range st.byStatus[k] {
			codes = append(codes, fmt.Sprintf("%d×%d", code, n))
		}
		sort.Strings(codes)
		note := ""
		if k == kExpired && c.signingKey == "" {
			note = " (skipped: no -signing-key)"
		}
		fmt.Fprintf(&b, "    %-30s %9d  unexpected %d  statuses %s%s\n", kindNames[k], st.byKind[k], st.unexpected[k], strings.Join(codes, " "), note)
	}
	fmt.Fprintf(&b, "  upstream: %d requests\n", up.requests.Load())
	fmt.Fprintf(&b, "  memory and goroutines (load paused), start at +%s, end at +%s:\n", c.warmup, took.Round(time.Second))
	if start.rssKB >= 0 && end.rssKB >= 0 {
		fmt.Fprintf(&b, "    RSS        %8d kB -> %8d kB  (%+.1f%%)\n", start.rssKB, end.rssKB, growth(start.rssKB, end.rssKB))
	} else {
		fmt.Fprintf(&b, "    RSS        not sampled (no -pid)\n")
	}
	if start.goroutines >= 0 && end.goroutines >= 0 {
		fmt.Fprintf(&b, "    goroutines %8d    -> %8d     (%+.1f%%)\n", start.goroutines, end.goroutines, growth(start.goroutines, end.goroutines))
	}

	fmt.Fprintf(&b, "checks:\n")
	check(!interrupted, "the run was not interrupted")
	check(total > 0 && st.byKind[kLogin] > 0 && st.byKind[kAuthGET] > 0, "load ran (%d logins, %d authenticated GETs)", st.byKind[kLogin], st.byKind[kAuthGET])
	if c.signingKey != "" {
		msg := "a token signed with -signing-key passes, so expired ones are refused for their exp"
		if keyErr != "" {
			msg += ": " + keyErr
		}
		check(keyErr == "", "%s", msg)
	}
	check(unexpected == 0, "unexpected statuses: %d", unexpected)
	forged := up.forgedIdentity.Load() + up.otherSpelling.Load() + up.forgedValue.Load() + up.anonymous.Load() + up.forgedTrailer.Load() + up.droppedIdentity.Load()
	check(forged == 0, "forged identity reached upstream: %d (wrong X-Openid %d, other spellings %d, \"forged\" values %d, without identity %d, trailers %d, identity dropped by Connection %d)",
		forged, up.forgedIdentity.Load(), up.otherSpelling.Load(), up.forgedValue.Load(), up.anonymous.Load(), up.forgedTrailer.Load(), up.droppedIdentity.Load())
	check(up.bearerLeaked.Load() == 0, "bearer token reached upstream: %d", up.bearerLeaked.Load())
	for _, e := range append(start.errs, end.errs...) {
		check(false, "sampling: %s", e)
	}
	if start.rssKB >= 0 && end.rssKB >= 0 {
		g := growth(start.rssKB, end.rssKB)
		check(g < maxGrowth, "RSS growth %+.1f%% < %.0f%%", g, maxGrowth)
	}
	if start.goroutines >= 0 && end.goroutines >= 0 {
		// Caddy keeps its connections to WeChat (the simulator) pooled
		// between samples, two goroutines each and at most one per worker
		// in flight; how many are open follows the last seconds' load. So
		// growth within that allowance is the pool, not a leak.
		g := growth(start.goroutines, end.goroutines)
		pool := int64(2 * c.concurrency)
		check(g < maxGrowth || end.goroutines-start.goroutines <= pool,
			"goroutine growth %+.1f%% < %.0f%% (or at most %d, the pool to WeChat)", g, maxGrowth, pool)
	}
	if len(st.samples) > 0 {
		fmt.Fprintf(&b, "first unexpected answers:\n")
		for _, s := range st.samples {
			fmt.Fprintf(&b, "  %s\n", s)
		}
	}
	up.mu.Lock()
	if len(up.samples) > 0 {
		fmt.Fprintf(&b, "first offending upstream requests:\n")
		for _, s := range up.samples {
			fmt.Fprintf(&b, "  %s\n", s)
		}
	}
	up.mu.Unlock()
	if ok {
		fmt.Fprintf(&b, "PASS\n")
	} else {
		fmt.Fprintf(&b, "FAIL\n")
	}
	return b.String(), ok
}
