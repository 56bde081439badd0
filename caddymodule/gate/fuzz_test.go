package gate

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-wechat/caddy-wechat/caddymodule"
	"github.com/caddy-wechat/caddy-wechat/internal/store"
	"github.com/caddy-wechat/caddy-wechat/internal/testenv"
	"github.com/caddy-wechat/caddy-wechat/internal/token"
	"github.com/caddy-wechat/caddy-wechat/internal/token/tokentest"
)

// fuzzIsBearer reports whether an Authorization value is a Bearer
// credential: the scheme, alone or followed by a space (RFC 6750).
func fuzzIsBearer(v string) bool {
	v = strings.TrimSpace(v)
	return strings.EqualFold(v, "bearer") || (len(v) >= 7 && strings.EqualFold(v[:7], "bearer "))
}

// fuzzHeaders turns "name:value" lines into raw header entries, keeping the
// name exactly as written (as a server that allows '_' and '.' would). A
// line starting with '~' is a trailer instead, declared in Trailer.
func fuzzHeaders(h, trailers http.Header, lines string, expand *strings.Replacer) {
	for _, line := range strings.Split(lines, "\n") {
		into := h
		rest, trailer := strings.CutPrefix(line, "~")
		if trailer {
			into, line = trailers, rest
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || name == "" {
			continue
		}
		into[name] = append(into[name], expand.Replace(strings.TrimPrefix(value, " ")))
		if trailer {
			h["Trailer"] = append(h["Trailer"], name)
		}
	}
}

// trailerBody merges trailers into its request's Trailer map at EOF, as
// net/http does for the body of a chunked request.
type trailerBody struct {
	*strings.Reader
	r        *http.Request
	trailers http.Header
}

func (b *trailerBody) Read(p []byte) (int, error) {
	n, err := b.Reader.Read(p)
	if err == io.EOF && b.trailers != nil {
		if b.r.Trailer == nil {
			b.r.Trailer = http.Header{}
		}
		for k, vs := range b.trailers {
			b.r.Trailer[k] = append(b.r.Trailer[k], vs...)
		}
		b.trailers = nil
	}
	return n, err
}

func (b *trailerBody) Close() error { return nil }

// fuzzListNamesTrusted reports whether a comma-separated list header
// (Connection, Trailer) names an identity header in any spelling.
func fuzzListNamesTrusted(vals []string) bool {
	for _, v := range vals {
		for _, tok := range strings.Split(v, ",") {
			if testenv.IsTrustedName(strings.Trim(tok, " \t")) {
				return true
			}
		}
	}
	return false
}

// fuzzGateOK are the fixture tokens a lone "Bearer <token>" must pass with.
var fuzzGateOK = map[byte]string{'A': "oFuzzAlice", 'B': "oFuzzBob", 'C': "oFuzzCarol"}

// FuzzGate sends arbitrary Authorization values and header sets through
// the gate's ServeHTTP, with one gate and one verified-token cache for the
// whole run, as in a server. Properties:
//   - it never panics and never returns an error (no handle_errors here);
//   - whatever reaches next carries no identity header in any spelling,
//     except the canonical ones the gate set from a token this test minted
//     with the configured key and did not revoke (the fuzzer cannot forge
//     one), and then without the Authorization header;
//   - an anonymous pass happens only under optional and without a Bearer
//     credential (a bad token under optional is still refused);
//   - a refusal is a 401 with a Bearer challenge and a JSON body, and leaves
//     no identity header on the request either;
//   - a lone valid "Bearer <token>" always passes with that identity.
func FuzzGate(f *testing.F) {
	fx := tokentest.New(f)
	forged := "X-Openid:forged\nx-openid:forged\nX_Openid:forged\nx.openid:forged\nX-OPENID:oFuzzAlice\nX-Unionid:forged\nx_unionid:forged\nX.Unionid:forged\nX-Wechat-Appid:forged\nx_wechat.appid:forged\nX.WECHAT_APPID:" + tokentest.AppID
	for _, opt := range []bool{false, true} {
		for _, name := range tokentest.Names {
			f.Add(opt, "Bearer {"+string(name)+"}", forged)
		}
		f.Add(opt, "", forged)
		f.Add(opt, "", "")
		f.Add(opt, "Basic dXNlcjpwYXNz", forged)
		f.Add(opt, "bEaReR {A}", "X-Openid:forged")
		f.Add(opt, "Bearer", "")
		f.Add(opt, "Bearer ", "")
		f.Add(opt, "Bearer\t{A}", "")
		f.Add(opt, "Bearer  {B} ", "x-unionid:forged")
		f.Add(opt, "Bearer {A}", "Authorization:Bearer {A}")
		f.Add(opt, "Bearer {A}", "Authorization:Basic Zm9vOmJhcg==")
		f.Add(opt, "", "Authorization:Bearer {B}\nX_OPENID:forged")
		f.Add(opt, "", "authorization:Bearer {A}\nx-openid:forged")
		f.Add(opt, "Bearer "+strings.Repeat("A", 20<<10), forged)
		f.Add(opt, "Bearer eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJmb3JnZWQiLCJhdWQiOiJ3eDAxMjM0NTY3ODlhYmNkZWYiLCJpc3MiOiJjYWRkeS13ZWNoYXQiLCJleHAiOjk5OTk5OTk5OTl9.", forged)
		f.Add(opt, "Bearer {A}", "X-Openid :forged\n X-Openid:forged\nX-Openid\x00:forged\nX--Openid:forged\nXOpenid:forged\nX_Wechat_AppID:forged\nx-wechat-appid:forged")
		f.Add(opt, "Bearer {A}", "Connection:X-Openid, keep-alive\nConnection:x_wechat.appid\n~X-Openid:forged\n~x_unionid:forged\n~X-Keep:ok")
		f.Add(opt, "", "Connection: X-Unionid ,X-Wechat-Assertion\n~X.Openid:forged\n~X-Wechatpay-Verified:1")
		f.Add(opt, "bearer\t{B}", "Connection:,,X-OPENID,\n~X-Wechat-Appid:forged")
	}

	app := newApp(f, token.HS256, []byte(tokentest.Key))
	if err := app.Store().Revocations().Revoke(context.Background(), store.Revocation{SID: fx.RevokedSID, Until: time.Now().Add(2 * time.Hour)}); err != nil {
		f.Fatal(err)
	}
	gates := map[bool]*Auth{}
	for _, opt := range []bool{false, true} {
		gates[opt] = &Auth{Optional: opt, AppRef: caddymodule.AppRef{Logger: zap.NewNop()}}
		gates[opt].use(app)
	}

	f.Fuzz(func(t *testing.T, optional bool, auth, headers string) {
		r := httptest.NewRequest(http.MethodPost, "/x", nil)
		if auth != "" {
			r.Header["Authorization"] = []string{fx.Expand.Replace(auth)}
		}
		trailers := http.Header{}
		fuzzHeaders(r.Header, trailers, headers, fx.Expand)
		sentAuth := append([]string(nil), r.Header["Authorization"]...)
		repl := caddy.NewReplacer()
		ctx := context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl)
		ctx = context.WithValue(ctx, caddyhttp.VarsCtxKey, map[string]any{})
		r = r.WithContext(ctx)
		// As net/http: declared trailers are keys without values until the
		// body reaches EOF.
		r.Trailer = http.Header{}
		for name := range trailers {
			r.Trailer[name] = nil
		}
		r.Body = &trailerBody{Reader: strings.NewReader("{}"), r: r, trailers: trailers}

		var reached bool
		var got http.Header
		var ctxID *token.Identity
		var gotTrailers http.Header
		next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			reached = true
			got = r.Header.Clone()
			ctxID = caddymodule.IdentityFrom(r.Context())
			if _, err := io.ReadAll(r.Body); err != nil {
				t.Fatalf("reading the body: %v", err)
			}
			gotTrailers = r.Trailer.Clone()
			w.WriteHeader(http.StatusOK)
			return nil
		})
		w := httptest.NewRecorder()
		if err := gates[optional].ServeHTTP(w, r, next); err != nil {
			t.Fatalf("ServeHTTP returned %v", err)
		}

		// A lone valid "Bearer <token>" must pass with its identity.
		var wantOpenID string
		if len(sentAuth) == 1 {
			for name, openID := range fuzzGateOK {
				if sentAuth[0] == "Bearer "+fx.ByName[string(name)] {
					wantOpenID = openID
				}
			}
		}

		if !reached {
			if wantOpenID != "" {
				t.Fatalf("valid token for %s refused: %d %s", wantOpenID, w.Code, w.Body)
			}
			if w.Code != http.StatusUnauthorized {
				t.Fatalf("refused with status %d", w.Code)
			}
			if !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer ") {
				t.Fatalf("refused without a Bearer challenge: %q", w.Header().Get("WWW-Authenticate"))
			}
			if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Fatalf("refusal content type %q", ct)
			}
			var body struct {
				Error string `json:"error"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || (body.Error != "unauthorized" && body.Error != "invalid_token") {
				t.Fatalf("refusal body %q (%v)", w.Body, err)
			}
			for name := range r.Header {
				if testenv.IsTrustedName(name) {
					t.Fatalf("identity header %q left on a refused request", name)
				}
			}
			return
		}

		// Whatever passed: no Connection token can make the proxy delete
		// a header the gate set, no trailer or Trailer declaration names
		// one, at entry or after the body's EOF.
		if fuzzListNamesTrusted(got["Connection"]) {
			t.Fatalf("Connection %q names an identity header", got["Connection"])
		}
		if fuzzListNamesTrusted(got["Trailer"]) {
			t.Fatalf("Trailer %q names an identity header", got["Trailer"])
		}
		for name := range gotTrailers {
			if testenv.IsTrustedName(name) {
				t.Fatalf("identity trailer %q reached next", name)
			}
		}

		openID := got.Get(HeaderOpenID)
		if openID == "" {
			// Anonymous: only under optional, without any Bearer credential.
			if !optional {
				t.Fatalf("anonymous request passed a required gate (Authorization %.80q)", sentAuth)
			}
			if wantOpenID != "" {
				t.Fatalf("valid token for %s passed anonymously", wantOpenID)
			}
			for _, v := range sentAuth {
				if fuzzIsBearer(v) {
					t.Fatalf("Bearer credential %.80q passed anonymously under optional", v)
				}
			}
			for name := range got {
				if testenv.IsTrustedName(name) {
					t.Fatalf("identity header %q reached next on an anonymous request", name)
				}
			}
			if ctxID != nil {
				t.Fatalf("anonymous request carries identity %+v", ctxID)
			}
			return
		}

		// Authenticated: the identity is one this test minted and did not
		// revoke, set only under the canonical names, and the token is gone.
		want, ok := fx.Valid[openID]
		if !ok || openID == "oFuzzRevoked" {
			t.Fatalf("forged or revoked identity %q reached next (Authorization %.80q)", openID, sentAuth)
		}
		if wantOpenID != "" && openID != wantOpenID {
			t.Fatalf("identity %q, want %q", openID, wantOpenID)
		}
		wantHdr := map[string]string{HeaderOpenID: openID, HeaderAppID: want.AppID}
		if want.UnionID != "" {
			wantHdr[HeaderUnionID] = want.UnionID
		}
		seen := 0
		for name, vs := range got {
			if !testenv.IsTrustedName(name) {
				continue
			}
			v, ok := wantHdr[name]
			if !ok || len(vs) != 1 || vs[0] != v {
				t.Fatalf("identity header %q: %q reached next (want %v)", name, vs, wantHdr)
			}
			seen++
		}
		if seen != len(wantHdr) {
			t.Fatalf("identity headers %v, want %v", got, wantHdr)
		}
		if _, ok := got["Authorization"]; ok {
			t.Fatalf("the bearer token was passed on to next")
		}
		if ctxID == nil || ctxID.OpenID != openID || ctxID.AppID != want.AppID {
			t.Fatalf("request identity %+v, header %q", ctxID, openID)
		}
		if v, _ := repl.GetString("http.auth.user.id"); v != openID {
			t.Fatalf("placeholder http.auth.user.id %q, want %q", v, openID)
		}
	})
}
