package caddymodule

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-wechat/caddy-wechat/wechat"
)

// Fixtures for the user data handlers (wechat_decrypt, wechat_phone,
// wechat_api), on ports of their own so that they never meet stdConfig's.
const (
	udPort      = 9185 // login, decrypt, phone
	udAPIPort   = 9186 // wechat_api choosing the app by header
	udBoundPort = 9187 // wechat_api bound to testAppID2
	udMockPort  = 9188 // wechat_mock
	udExtraPort = 9189 // a site a reload test adds

	// The official open data sample's app and session_key.
	sampleAppID      = "wx4f4bc4dec97d474b"
	sampleSecret     = "s3cr3t-sample-app-secret-555555555"
	sampleSessionKey = "tiihtNczf5v6AKRyjwEUhQ=="
	sampleOpenID     = "oGZUI0egBJY1zhBYw2KhdUfwVJJE"
	sampleIV         = "r7BXXKkLb8qrSNn05n0qiA=="
	sampleData       = "CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnxIMXFufNstNGTyaGS9uT5geRa0W4oTOb1WT7fJlAC+oNPdbB+3hVbJSRgv+4lGOETKUQz6OYStslQ142dNCuabNPGBzlooOmB231qMM85d2/fV6ChevvXvQP8Hkue1poOFtnEtpyxVLW1zAo6/1Xx1COxFvrc2d7UL/lmHInNlxuacJXwu0fjpXfz/YqYzBIBzD6WUfTIF9GRHpOn/Hz7saL8xz+W//FRAUid1OksQaQx4CMs8LOddcQhULW4ucetDf96JcR3g0gfRK4PC7E/r7Z6xNrXd2UIeorGj5Ef7b1pJAYB6Y5anaHqZ9J6nKEBvB4DnNLIVWSgARns/8wR2SiRS7MNACwTyrGvt9ts8p12PKFdlqYTopNHR1Vf7XjfhQlVsAJdNiKdYmYVoKlaRv85IfVunYzO0IKXsyl7JCUjCpoG20f0a04COwfneQAGGwd5oa+T8yO5hzuyDb/XcxxmK01EpqOyuxINew=="
)

// udConfig is the Caddyfile of the user data tests. global is added to
// the global options (logging), sites after the standard sites.
func udConfig(apiBase, up, global, sites string) string {
	return udConfigWith(apiBase, up, global, sites, "")
}

// udConfigWith also adds inSite (an access log, say) to the login and
// wechat_api sites.
func udConfigWith(apiBase, up, global, sites, inSite string) string {
	return fmt.Sprintf(`{
	admin localhost:2999
	http_port %[3]d
	https_port 9545
	auto_https off
	skip_install_trust
	%[13]s
	wechat {
		api_base %[1]s
		timeout 2s
		app %[7]s {
			secret %[8]s
		}
		app %[9]s {
			secret %[10]s
		}
		app %[11]s {
			secret %[12]s
		}
		token {
			signing_key %[14]s
			ttl 1h
		}
	}
}
:%[3]d {
	%[16]s
	wechat_login /login {
		rate_limit client 100000 1m
	}
	handle /decrypt {
		wechat_auth
		wechat_decrypt
	}
	handle /decrypt/forward {
		wechat_auth
		wechat_decrypt {
			forward
		}
		reverse_proxy %[2]s {
			transport http {
				keepalive 2s
			}
		}
	}
	handle /phone {
		wechat_auth
		wechat_phone
	}
	handle /phone/forward {
		wechat_auth
		wechat_phone {
			forward
		}
		reverse_proxy %[2]s {
			transport http {
				keepalive 2s
			}
		}
	}
	handle /anon/* {
		wechat_auth {
			optional
		}
		wechat_decrypt /anon/decrypt
		wechat_phone /anon/phone
	}
	handle /nogate/decrypt {
		wechat_decrypt
	}
	handle /nogate/phone {
		wechat_phone
	}
}
:%[4]d {
	%[16]s
	bind 127.0.0.1
	wechat_api
}
:%[5]d {
	bind 127.0.0.1
	wechat_api {
		app %[9]s
	}
}
:%[6]d {
	wechat_mock
}
%[15]s
`, apiBase, up, udPort, udAPIPort, udBoundPort, udMockPort,
		testAppID, testSecret, testAppID2, testSecret2, sampleAppID, sampleSecret,
		global, testKey, sites, inSite)
}

// udLogin logs code in for appID on udPort and returns the token.
func udLogin(t *testing.T, c *http.Client, code, appID string) (string, map[string]any) {
	t.Helper()
	return loginAt(t, c, udPort, code, appID)
}

// jsonBody marshals v for do.
func jsonBody(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// bodyUpstream is a backend that records the last request's body too.
type bodyUpstream struct {
	*httptest.Server
	mu      sync.Mutex
	method  string
	header  http.Header
	trailer http.Header
	body    []byte
	hits    int
}

func newBodyUpstream(t *testing.T) *bodyUpstream {
	u := &bodyUpstream{}
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

func (u *bodyUpstream) last() (string, http.Header, []byte, int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.method, u.header, u.body, u.hits
}

func (u *bodyUpstream) trailers() http.Header {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.trailer
}

// udSessionKey is the fake's session_key for a login code: every code
// gets its own key, so "alice.1" then "alice.2" rotates alice's key.
func udSessionKey(code string) string {
	sum := sha256.Sum256([]byte("ud session key\x00" + code))
	return base64.StdEncoding.EncodeToString(sum[:16])
}

// fakeAPI is a fake WeChat for the user data handlers: jscode2session,
// stable_token, getuserphonenumber and a few token-checked APIs. Its
// tokens carry a random per-server prefix, so that a token cached for an
// earlier fake on a reused port is refused (40001), as WeChat would.
type fakeAPI struct {
	*httptest.Server
	prefix string

	mu     sync.Mutex
	hits   map[string]int
	tokens map[string]string // token -> appid
	issued []string
	stable []map[string]any // stable_token request bodies
	phone  []url.Values     // getuserphonenumber queries
	phoneB []map[string]any // and bodies
	echo   *echoed
	// knobs, set through set()
	tokenDelay  time.Duration
	phoneDelay  time.Duration
	rejectFirst int // errcode for calls with the first token issued
	rejectAll   int // errcode for every token-checked call
	stableErr   int // errcode for stable_token
}

type echoed struct {
	Method string
	Path   string
	Query  url.Values
	Header http.Header
	Body   string
}

func newFakeAPI(t *testing.T) *fakeAPI {
	p := make([]byte, 6)
	_, _ = rand.Read(p)
	f := &fakeAPI{prefix: hex.EncodeToString(p), hits: map[string]int{}, tokens: map[string]string{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

// set changes the knobs under the lock the handlers read them with.
func (f *fakeAPI) set(fn func(f *fakeAPI)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeAPI) count(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[path]
}

func (f *fakeAPI) issuedTokens() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.issued...)
}

func (f *fakeAPI) lastEcho() *echoed {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.echo
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.hits[r.URL.Path]++
	f.mu.Unlock()
	switch r.URL.Path {
	case "/sns/jscode2session":
		code := r.URL.Query().Get("js_code")
		user, _, _ := strings.Cut(code, ".")
		if code == "sample" {
			wechatJSON(w, map[string]any{"openid": sampleOpenID, "session_key": sampleSessionKey})
			return
		}
		wechatJSON(w, map[string]any{"openid": "o-" + user, "session_key": udSessionKey(code)})
	case "/cgi-bin/stable_token":
		f.stableToken(w, r)
	case "/wxa/business/getuserphonenumber":
		f.phoneNumber(w, r)
	case "/wxa/echo", "/cgi-bin/echo":
		if _, ok := f.checkToken(w, r); !ok {
			return
		}
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.echo = &echoed{r.Method, r.URL.Path, r.URL.Query(), r.Header.Clone(), string(body)}
		f.mu.Unlock()
		wechatJSON(w, map[string]any{"errcode": 0, "errmsg": "ok", "got": string(body)})
	case "/wxa/teapot":
		if _, ok := f.checkToken(w, r); !ok {
			return
		}
		w.Header().Set("Content-Type", "application/x-teapot")
		w.WriteHeader(http.StatusTeapot)
		_, _ = w.Write([]byte("short and stout"))
	case "/wxa/big":
		if _, ok := f.checkToken(w, r); !ok {
			return
		}
		w.Header().Set("Content-Type", "image/png")
		w.Header().Set("Content-Disposition", `attachment; filename="qr.png"`)
		_, _ = w.Write(bigBody())
	case "/wxa/drop":
		if _, ok := f.checkToken(w, r); !ok {
			return
		}
		// Hang up without an answer: a transport error for the caller.
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	case "/wxa/echo-malformed", "/wxa/echo-big", "/wxa/echo-headers":
		if _, ok := f.checkToken(w, r); !ok {
			return
		}
		f.echoToken(w, r)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

// echoToken is a hostile WeChat that hands the access_token back: in a
// malformed header line that net/http's client quotes in its error, in a
// large streamed answer (across read boundaries), or in the headers that
// wechat_api relays.
func (f *fakeAPI) echoToken(w http.ResponseWriter, r *http.Request) {
	tok := r.URL.Query().Get("access_token")
	switch r.URL.Path {
	case "/wxa/echo-malformed":
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nX-Echo " + r.URL.RequestURI() + "\r\n\r\n")
		_ = buf.Flush()
	case "/wxa/echo-big":
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(bigEcho(tok))
	case "/wxa/echo-headers":
		w.Header().Set("Content-Type", "text/plain; token="+tok)
		w.Header().Set("Content-Disposition", `attachment; filename="`+tok+`.png"`)
		_, _ = w.Write([]byte("small"))
	}
}

// bigEcho is a body larger than wechat_api reads whole, with tok at the
// start, across the 32 KiB and 64 KiB boundaries, at the end, and
// URL-escaped.
func bigEcho(tok string) []byte {
	b := []byte(strings.Repeat("-", 200<<10))
	for _, at := range []int{0, 32<<10 - len(tok)/2, 64<<10 - 3, 64<<10 + 100, 100 << 10} {
		copy(b[at:], tok)
	}
	copy(b[150<<10:], url.QueryEscape(tok))
	return append(b, tok...)
}

// bigBody is larger than the size below which wechat_api reads answers
// whole, so that it is streamed.
func bigBody() []byte {
	b := make([]byte, 200<<10)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

func (f *fakeAPI) stableToken(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	_ = json.NewDecoder(r.Body).Decode(&body)
	f.mu.Lock()
	f.stable = append(f.stable, body)
	delay, errcode := f.tokenDelay, f.stableErr
	f.mu.Unlock()
	time.Sleep(delay)
	if errcode != 0 {
		wechatJSON(w, map[string]any{"errcode": errcode, "errmsg": "simulated, rid: 5f"})
		return
	}
	f.mu.Lock()
	tok := "AT-" + f.prefix + "-" + strconv.Itoa(len(f.issued)+1) + "-secretpart"
	f.issued = append(f.issued, tok)
	appID, _ := body["appid"].(string)
	f.tokens[tok] = appID
	f.mu.Unlock()
	wechatJSON(w, map[string]any{"access_token": tok, "expires_in": 7200})
}

// checkToken answers WeChat's token errors itself; ok is false when it did.
func (f *fakeAPI) checkToken(w http.ResponseWriter, r *http.Request) (string, bool) {
	tok := r.URL.Query().Get("access_token")
	f.mu.Lock()
	appID, known := f.tokens[tok]
	first := len(f.issued) > 0 && f.issued[0] == tok
	rejectAll, rejectFirst := f.rejectAll, f.rejectFirst
	f.mu.Unlock()
	code := 0
	switch {
	case !known:
		code = 40001
	case rejectAll != 0:
		code = rejectAll
	case first && rejectFirst != 0:
		code = rejectFirst
	}
	if code != 0 {
		wechatJSON(w, map[string]any{"errcode": code, "errmsg": "invalid credential, rid: 77"})
		return "", false
	}
	return appID, true
}

func (f *fakeAPI) phoneNumber(w http.ResponseWriter, r *http.Request) {
	appID, ok := f.checkToken(w, r)
	if !ok {
		return
	}
	var body map[string]any
	_ = json.NewDecoder(r.Body).Decode(&body)
	f.mu.Lock()
	f.phone = append(f.phone, r.URL.Query())
	f.phoneB = append(f.phoneB, body)
	delay := f.phoneDelay
	f.mu.Unlock()
	time.Sleep(delay)
	code, _ := body["code"].(string)
	if strings.HasPrefix(code, "err") {
		n, _ := strconv.Atoi(strings.SplitN(code[3:], ".", 2)[0])
		wechatJSON(w, map[string]any{"errcode": n, "errmsg": "simulated, rid: 9a"})
		return
	}
	wm := appID
	if strings.HasPrefix(code, "otherapp") {
		wm = "wxffffffffffffffff"
	}
	// countryCode as a number, as WeChat sometimes sends it.
	wechatJSON(w, map[string]any{"errcode": 0, "errmsg": "ok", "phone_info": map[string]any{
		"phoneNumber": "13800138000", "purePhoneNumber": "13800138000", "countryCode": 86,
		"watermark": map[string]any{"timestamp": time.Now().Unix(), "appid": wm},
	}})
}

// encryptFor makes encryptedData as WeChat would for a user whose
// session_key is sk, with the watermark naming wmApp.
func encryptFor(t *testing.T, sk, wmApp string, data map[string]any) (string, string) {
	t.Helper()
	d := map[string]any{}
	for k, v := range data {
		d[k] = v
	}
	d["watermark"] = map[string]any{"appid": wmApp, "timestamp": 1700000000}
	plain, _ := json.Marshal(d)
	iv := make([]byte, 16)
	_, _ = rand.Read(iv)
	enc, err := wechat.EncryptData(sk, plain, iv)
	if err != nil {
		t.Fatal(err)
	}
	return enc, base64.StdEncoding.EncodeToString(iv)
}
