package testenv

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// gets its own key, so "alice.1" then "alice.2" rotates alice's key.
func UDSessionKey(code string) string {
	sum := sha256.Sum256([]byte("ud session key\x00" + code))
	return base64.StdEncoding.EncodeToString(sum[:16])
}

// FakeAPI is a fake WeChat for the user data handlers: jscode2session,
// stable_token, getuserphonenumber and a few token-checked APIs. Its
// tokens carry a random per-server prefix, so that a token cached for an
// earlier fake on a reused port is refused (40001), as WeChat would.
type FakeAPI struct {
	*httptest.Server
	prefix string

	// Mu guards everything below; tests that read the records take it.
	Mu     sync.Mutex
	hits   map[string]int
	Tokens map[string]string // access_token -> appid
	issued []string
	Stable []map[string]any // stable_token request bodies
	Phone  []url.Values     // getuserphonenumber queries
	PhoneB []map[string]any // and bodies
	echoed *Echoed
	// Knobs, set through Set.
	TokenDelay  time.Duration
	PhoneDelay  time.Duration
	LoginDelay  time.Duration // before jscode2session answers
	RejectFirst int           // errcode for calls with the first token issued
	RejectAll   int           // errcode for every token-checked call
	StableErr   int           // errcode for stable_token
}

type Echoed struct {
	Method string
	Path   string
	Query  url.Values
	Header http.Header
	Body   string
}

func NewFakeAPI(t *testing.T) *FakeAPI {
	p := make([]byte, 6)
	_, _ = rand.Read(p)
	f := &FakeAPI{prefix: hex.EncodeToString(p), hits: map[string]int{}, Tokens: map[string]string{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

// Set changes the knobs under the lock the handlers read them with.
func (f *FakeAPI) Set(fn func(f *FakeAPI)) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	fn(f)
}

func (f *FakeAPI) Count(path string) int {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	return f.hits[path]
}

func (f *FakeAPI) IssuedTokens() []string {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	return append([]string(nil), f.issued...)
}

func (f *FakeAPI) LastEcho() *Echoed {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	return f.echoed
}

func (f *FakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	f.Mu.Lock()
	f.hits[r.URL.Path]++
	f.Mu.Unlock()
	switch r.URL.Path {
	case "/sns/jscode2session":
		f.Mu.Lock()
		delay := f.LoginDelay
		f.Mu.Unlock()
		time.Sleep(delay)
		code := r.URL.Query().Get("js_code")
		user, _, _ := strings.Cut(code, ".")
		if code == "sample" {
			WeChatJSON(w, map[string]any{"openid": SampleOpenID, "session_key": SampleSessionKey})
			return
		}
		WeChatJSON(w, map[string]any{"openid": "o-" + user, "session_key": UDSessionKey(code)})
	case "/cgi-bin/stable_token":
		f.stableToken(w, r)
	case "/wxa/business/getuserphonenumber":
		f.phoneNumber(w, r)
	case "/wxa/echo", "/cgi-bin/echo":
		if _, ok := f.checkToken(w, r); !ok {
			return
		}
		body, _ := io.ReadAll(r.Body)
		f.Mu.Lock()
		f.echoed = &Echoed{r.Method, r.URL.Path, r.URL.Query(), r.Header.Clone(), string(body)}
		f.Mu.Unlock()
		WeChatJSON(w, map[string]any{"errcode": 0, "errmsg": "ok", "got": string(body)})
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
		_, _ = w.Write(BigBody())
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
func (f *FakeAPI) echoToken(w http.ResponseWriter, r *http.Request) {
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
		_, _ = w.Write(BigEcho(tok))
	case "/wxa/echo-headers":
		w.Header().Set("Content-Type", "text/plain; token="+tok)
		w.Header().Set("Content-Disposition", `attachment; filename="`+tok+`.png"`)
		_, _ = w.Write([]byte("small"))
	}
}

// BigEcho is a body larger than wechat_api reads whole, with tok at the
// start, across the 32 KiB and 64 KiB boundaries, at the end, and
// URL-escaped.
func BigEcho(tok string) []byte {
	b := []byte(strings.Repeat("-", 200<<10))
	for _, at := range []int{0, 32<<10 - len(tok)/2, 64<<10 - 3, 64<<10 + 100, 100 << 10} {
		copy(b[at:], tok)
	}
	copy(b[150<<10:], url.QueryEscape(tok))
	return append(b, tok...)
}

// BigBody is larger than the size below which wechat_api reads answers
// whole, so that it is streamed.
func BigBody() []byte {
	b := make([]byte, 200<<10)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

func (f *FakeAPI) stableToken(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	_ = json.NewDecoder(r.Body).Decode(&body)
	f.Mu.Lock()
	f.Stable = append(f.Stable, body)
	delay, errcode := f.TokenDelay, f.StableErr
	f.Mu.Unlock()
	time.Sleep(delay)
	if errcode != 0 {
		WeChatJSON(w, map[string]any{"errcode": errcode, "errmsg": "simulated, rid: 5f"})
		return
	}
	f.Mu.Lock()
	tok := "AT-" + f.prefix + "-" + strconv.Itoa(len(f.issued)+1) + "-secretpart"
	f.issued = append(f.issued, tok)
	appID, _ := body["appid"].(string)
	f.Tokens[tok] = appID
	f.Mu.Unlock()
	WeChatJSON(w, map[string]any{"access_token": tok, "expires_in": 7200})
}

// checkToken answers WeChat's token errors itself; ok is false when it did.
func (f *FakeAPI) checkToken(w http.ResponseWriter, r *http.Request) (string, bool) {
	tok := r.URL.Query().Get("access_token")
	f.Mu.Lock()
	appID, known := f.Tokens[tok]
	first := len(f.issued) > 0 && f.issued[0] == tok
	rejectAll, rejectFirst := f.RejectAll, f.RejectFirst
	f.Mu.Unlock()
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
		WeChatJSON(w, map[string]any{"errcode": code, "errmsg": "invalid credential, rid: 77"})
		return "", false
	}
	return appID, true
}

func (f *FakeAPI) phoneNumber(w http.ResponseWriter, r *http.Request) {
	appID, ok := f.checkToken(w, r)
	if !ok {
		return
	}
	var body map[string]any
	_ = json.NewDecoder(r.Body).Decode(&body)
	f.Mu.Lock()
	f.Phone = append(f.Phone, r.URL.Query())
	f.PhoneB = append(f.PhoneB, body)
	delay := f.PhoneDelay
	f.Mu.Unlock()
	time.Sleep(delay)
	code, _ := body["code"].(string)
	if strings.HasPrefix(code, "err") {
		n, _ := strconv.Atoi(strings.SplitN(code[3:], ".", 2)[0])
		WeChatJSON(w, map[string]any{"errcode": n, "errmsg": "simulated, rid: 9a"})
		return
	}
	wm := appID
	if strings.HasPrefix(code, "otherapp") {
		wm = "wxffffffffffffffff"
	}
	// countryCode as a number, as WeChat sometimes sends it.
	WeChatJSON(w, map[string]any{"errcode": 0, "errmsg": "ok", "phone_info": map[string]any{
		"phoneNumber": "13800138000", "purePhoneNumber": "13800138000", "countryCode": 86,
		"watermark": map[string]any{"timestamp": time.Now().Unix(), "appid": wm},
	}})
}
