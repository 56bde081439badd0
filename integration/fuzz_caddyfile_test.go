package integration

import (
	"strings"
	"testing"
	"time"

	"github.com/caddy-wechat/caddy-wechat/caddymodule"
	"github.com/caddy-wechat/caddy-wechat/caddymodule/api"
	"github.com/caddy-wechat/caddy-wechat/caddymodule/gate"
	"github.com/caddy-wechat/caddy-wechat/caddymodule/jwks"
	"github.com/caddy-wechat/caddy-wechat/caddymodule/login"
	"github.com/caddy-wechat/caddy-wechat/caddymodule/session"
	"github.com/caddy-wechat/caddy-wechat/caddymodule/userdata"
	"github.com/caddy-wechat/caddy-wechat/internal/token"
	"github.com/caddy-wechat/caddy-wechat/mock"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// fuzzDirectives are the directives FuzzCaddyfile parses, by the input's
// first byte (modulo their number).
var fuzzDirectives = [...]string{"wechat", "wechat_login", "wechat_auth", "wechat_mock", "wechat_decrypt", "wechat_phone", "wechat_api", "wechat_ticket", "wechat_logout", "wechat_jwks"}

// FuzzCaddyfile feeds arbitrary Caddyfile text after each directive's name
// to its UnmarshalCaddyfile. Nothing may panic; when the wechat global
// option parses, every app has a placeholder or well-formed appid, a
// secret, and no appid twice, a literal signing_key is long enough for
// HS256, api_base is an http(s) origin or a placeholder, and the result
// encodes to JSON.
func FuzzCaddyfile(f *testing.F) {
	seeds := []struct {
		dir  uint8
		text string
	}{
		{0, "{\n\tapi_base http://127.0.0.1:8081\n\tapp wx0123456789abcdef {\n\t\tsecret {env.WECHAT_SECRET}\n\t}\n}"},
		{0, "{\n\tapp wx0123456789abcdef {\n\t\tsecret s\n\t}\n\tapp wx1111111111111111 {\n\t\tsecret t\n\t}\n\ttoken {\n\t\tsigning_key 0123456789abcdef0123456789abcdef\n\t\tttl 2h\n\t\tissuer me\n\t}\n\ttimeout 5s\n\tmax_inflight 64\n}"},
		{0, "{\n\tapp {env.APPID} {\n\t\tsecret {file./run/secrets/wx}\n\t}\n\ttoken {\n\t\tsigning_key {env.KEY}\n\t\talgorithm EdDSA\n\t}\n}"},
		{0, "{\n\ttoken {\n\t\talgorithm EdDSA\n\t\tsigning_key short\n\t}\n}"},
		{0, "{\n\tapp wx0123456789abcdef\n}"},
		{0, "{\n\tapp wx0123456789ABCDEF {\n\t\tsecret s\n\t}\n}"},
		{0, "{\n\tapp wx0123456789abcdef {\n\t\tsecret\n\t}\n}"},
		{0, "{\n\tapp wx0123456789abcdef {\n\t\tsecret s\n\t}\n\tapp wx0123456789abcdef {\n\t\tsecret s\n\t}\n}"},
		{0, "{\n\tapi_base ftp://x\n}"},
		{0, "{\n\ttimeout -1s\n\ttoken\n\ttoken\n}"},
		{0, "{\n\t{\n\t\t{\n}"},
		{0, "x {\n}"},
		{0, "{\n\tapp }{ {\n\t\tsecret s\n\t}\n}"},
		{1, ""},
		{1, "/login"},
		{1, "{\n\trate_limit client 30 1m\n\trate_limit app off\n}"},
		{1, "{\n\trate_limit client 0 1m\n}"},
		{1, "{\n\trate_limit nobody 1 1s\n}"},
		{1, "{\n\trate_limit\n}"},
		{2, ""},
		{2, "{\n\toptional\n}"},
		{2, "{\n\toptional yes\n}"},
		{2, "{\n\tunknown\n}"},
		{2, "{\n\tapps wx0123456789abcdef wx1111111111111111\n}"},
		{2, "{\n\tapps\n}"},
		{2, "{\n\tapps wxNOTHEX\n\toptional\n}"},
		{3, ""},
		{3, "{\n\tfoo\n}"},
		{3, "arg"},
		{0, "{\n\tapp wx0123456789abcdef {\n\t\tsecret s\n\t}\n\ttoken {\n\t\trenew_within off\n\t\tsession_lifetime 7d\n\t}\n\tcookie {\n\t\tname s\n\t\tsame_site none\n\t\tsecure on\n\t\tallowed_origins https://h5.example.com\n\t}\n}"},
		{0, "{\n\tcookie {\n\t\tsame_site sideways\n\t\tdomain\n\t}\n}"},
		{7, "{\n\tttl 90s\n}"},
		{7, "{\n\tttl 0s\n}"},
		{8, ""},
		{8, "{\n\tx\n}"},
		{0, "{\n\ttoken {\n\t\talgorithm ES256\n\t\tsigning_key {file./k.pem}\n\t\tprevious_key {file./old.pem}\n\t\tprevious_key x\n\t}\n\tassertion {\n\t\talgorithm ES256\n\t\tsigning_key {file./a.pem}\n\t}\n}"},
		{0, "{\n\tassertion {\n\t\talgorithm HS256\n\t}\n}"},
		{2, "{\n\trespond\n\tassertion {\n\t\taudience a\n\t\tttl 2m\n\t}\n}"},
		{2, "{\n\tassertion x\n}"},
		{9, ""},
		{9, "{\n\tx\n}"},
	}
	for _, s := range seeds {
		f.Add(s.dir, s.text)
	}

	f.Fuzz(func(t *testing.T, dir uint8, text string) {
		name := fuzzDirectives[int(dir)%len(fuzzDirectives)]
		// caddyfile.NewTestDispenser exits the process (log.Fatalf) on a
		// lexer error, so tokenize first and build the same dispenser.
		tokens, err := caddyfile.Tokenize([]byte(name+" "+text), "Caddyfile")
		if err != nil {
			return
		}
		d := caddyfile.NewDispenser(tokens)
		switch name {
		case "wechat":
			app := new(caddymodule.App)
			if err := app.UnmarshalCaddyfile(d); err != nil {
				return
			}
			fuzzCheckApp(t, app)
		case "wechat_login":
			l := new(login.Login)
			if err := l.UnmarshalCaddyfile(d); err != nil {
				return
			}
			for _, lim := range []*login.RateLimit{l.ClientRate, l.AppRate} {
				if lim != nil && (lim.Requests < 0 || lim.Window < 0 || (lim.Requests > 0) != (lim.Window > 0)) {
					t.Fatalf("rate limit %+v", lim)
				}
			}
		case "wechat_auth":
			a := new(gate.Auth)
			if err := a.UnmarshalCaddyfile(d); err != nil {
				return
			}
			for _, id := range a.Apps {
				if !fuzzIsPlaceholder(id) && caddymodule.CheckAppID(id) != nil {
					t.Fatalf("apps %q accepted", id)
				}
			}
			if a.Assertion != nil && a.Assertion.TTL < 0 {
				t.Fatalf("assertion ttl %v accepted", a.Assertion.TTL)
			}
		case "wechat_mock":
			_ = new(mock.Mock).UnmarshalCaddyfile(d)
		case "wechat_decrypt":
			_ = new(userdata.Decrypt).UnmarshalCaddyfile(d)
		case "wechat_phone":
			_ = new(userdata.Phone).UnmarshalCaddyfile(d)
		case "wechat_ticket":
			tk := new(session.Ticket)
			if err := tk.UnmarshalCaddyfile(d); err != nil {
				return
			}
			if tk.TTL != 0 && time.Duration(tk.TTL) < time.Second {
				t.Fatalf("ttl %v accepted", time.Duration(tk.TTL))
			}
		case "wechat_logout":
			_ = new(session.Logout).UnmarshalCaddyfile(d)
		case "wechat_jwks":
			_ = new(jwks.JWKS).UnmarshalCaddyfile(d)
		case "wechat_api":
			a := new(api.API)
			if err := a.UnmarshalCaddyfile(d); err != nil {
				return
			}
			if a.AppID != "" && !fuzzIsPlaceholder(a.AppID) && caddymodule.CheckAppID(a.AppID) != nil {
				t.Fatalf("app %q accepted", a.AppID)
			}
		}
	})
}

func fuzzIsPlaceholder(s string) bool { return strings.Contains(s, "{") && strings.Contains(s, "}") }

func fuzzCheckApp(t *testing.T, app *caddymodule.App) {
	t.Helper()
	seen := map[string]bool{}
	for _, mp := range app.Apps {
		if mp == nil {
			t.Fatal("nil app entry")
		}
		if !fuzzIsPlaceholder(mp.AppID) && caddymodule.CheckAppID(mp.AppID) != nil {
			t.Fatalf("appid %q accepted", mp.AppID)
		}
		if mp.Secret == "" {
			t.Fatalf("app %q accepted without a secret", mp.AppID)
		}
		if seen[mp.AppID] {
			t.Fatalf("appid %q accepted twice", mp.AppID)
		}
		seen[mp.AppID] = true
	}
	if b := app.APIBase; b != "" && !fuzzIsPlaceholder(b) && !strings.HasPrefix(b, "http://") && !strings.HasPrefix(b, "https://") {
		t.Fatalf("api_base %q accepted", b)
	}
	if app.Timeout < 0 {
		t.Fatalf("timeout %v accepted", app.Timeout)
	}
	if tc := app.Token; tc != nil {
		if k := tc.SigningKey; k != "" && !fuzzIsPlaceholder(k) && (tc.Algorithm == "" || tc.Algorithm == token.HS256) && len(k) < token.MinHS256Bytes {
			t.Fatalf("HS256 signing_key of %d bytes accepted", len(k))
		}
		if tc.Algorithm != "" && tc.Algorithm != token.HS256 && tc.Algorithm != token.EdDSA && tc.Algorithm != token.ES256 {
			t.Fatalf("algorithm %q accepted", tc.Algorithm)
		}
		if as := app.Assertion; as != nil && as.Algorithm != "" && as.Algorithm != token.EdDSA && as.Algorithm != token.ES256 {
			t.Fatalf("assertion algorithm %q accepted", as.Algorithm)
		}
		if tc.TTL < 0 {
			t.Fatalf("ttl %v accepted", tc.TTL)
		}
	}
	var warn []caddyconfig.Warning
	if raw := caddyconfig.JSON(app, &warn); len(raw) == 0 || len(warn) != 0 {
		t.Fatalf("app does not encode to JSON: %v", warn)
	}
}
