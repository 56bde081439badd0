package testenv

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-wechat/caddy-wechat/internal/token"
	"github.com/caddy-wechat/caddy-wechat/internal/token/tokentest"
)

// The ports of SessionsConfig's sites.
var (
	SessPort      = pickPort() // login, logout, ticket and the gate with cookies
	SessPassPort  = pickPort() // a gate that passes preflights on
	H5Origin      = "http://h5.example.test"
	OtherH5Origin = "http://evil.example.test"
)

// SessionOpts are what a test adds to SessionsConfig.
type SessionOpts struct {
	Global string // global options
	Token  string // in the wechat app's token block
	Cookie string // in its cookie block
	InSite string // at the top of SessPort's site (log, say)
	Sites  string // more sites
}

// SessionsConfig is a Caddyfile with cookie sessions: on SessPort,
// /login, /logout, /session/ticket (behind the gate) and everything else
// behind the gate to up; on SessPassPort a gate with preflight pass.
func SessionsConfig(apiBase, up string, o SessionOpts) string {
	return fmt.Sprintf(`{
	admin localhost:2999
	auto_https off
	skip_install_trust
	%[11]s
	wechat {
		api_base %[1]s
		timeout 1s
		app %[2]s {
			secret %[3]s
		}
		token {
			signing_key %[4]s
			ttl 1h
			%[5]s
		}
		cookie {
			%[6]s
		}
	}
}
:%[7]d {
	%[12]s
	wechat_login /login {
		rate_limit client 100000 1m
	}
	wechat_logout /logout
	handle /session/ticket {
		wechat_auth
		wechat_ticket
	}
	handle {
		wechat_auth
		reverse_proxy %[9]s {
			transport http {
				keepalive 2s
			}
		}
	}
}
:%[8]d {
	wechat_auth {
		preflight pass
	}
	reverse_proxy %[9]s
}
%[10]s
`, apiBase, AppID, Secret, SigningKey, o.Token, o.Cookie, SessPort, SessPassPort, up, o.Sites, o.Global, o.InSite)
}

// Claims decodes a token's payload without checking it, for tests that
// compare sessions.
func Claims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %.20q", tok)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// SessionToken mints a token signed with SigningKey, as the configured
// Caddy would, of a session that began at authTime, issued at iat and
// valid for ttl: for tests that need a token near its end without
// waiting for one. sid empty starts a new session.
func SessionToken(t *testing.T, openID, sid string, authTime, iat time.Time, ttl time.Duration) string {
	t.Helper()
	ks := tokentest.KeySet(t, "caddy-wechat", token.HS256, []byte(SigningKey))
	tok, _, err := ks.Mint(token.Session{AppID: AppID, OpenID: openID, SID: sid, AuthTime: authTime}, iat, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// SessionCookie is the Set-Cookie of name among h's, or nil.
func SessionCookie(h http.Header, name string) *http.Cookie {
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// WithCookie is a header with the session cookie and any others.
func WithCookie(tok string, others ...string) http.Header {
	return http.Header{"Cookie": {strings.Join(append(others, "wechat_session="+tok), "; ")}}
}

// Unique is name made unique to this run of the test binary, for the
// sessions and users a test ends: the store outlives each test's config,
// and -count runs a test again in the same process.
func Unique(name string) string {
	return fmt.Sprintf("%s-%d-%d", name, time.Now().UnixNano()%1e9, uniqueSeq.Add(1))
}

var uniqueSeq atomic.Int64

// SessionTokenNow is a token of a new session of openID, signed with
// SigningKey, valid for an hour from now.
func SessionTokenNow(t *testing.T, openID string) string {
	t.Helper()
	now := time.Now()
	return SessionToken(t, openID, "", now, now, time.Hour)
}
