package gate

import (
	"io"
	"net/http"
	"strings"

	"github.com/caddy-wechat/caddy-wechat/caddymodule"
)

// trustedNames are the lowercased names, with '-' as separator, of every
// header the edge sets for a backend to trust. A client-supplied header is
// compared against all of them wherever the edge sets any, so that a
// backend can never tell a forged one from ours.
var trustedNames = [...]string{
	"x-openid",
	"x-unionid",
	"x-wechat-appid",
	"x-wechat-assertion",
	"x-wechatpay-event-type",
	"x-wechatpay-event-id",
	"x-wechatpay-resource-type",
	"x-wechatpay-verified",
}

// Scrub removes every client-supplied trusted header from r, in every
// place a backend could read one from:
//   - the header itself, whatever its letter case and whether it uses '-',
//     '_' or '.' as separator (CGI and PHP-FPM fold all three onto the
//     same HTTP_X_OPENID variable; Caddy drops '_' and '.' names by
//     default, but operators can allow them and we must not rely on that);
//   - the Connection header's tokens, because reverse_proxy deletes every
//     header named there after we have set ours;
//   - the Trailer declaration and the trailers, which net/http fills in
//     only when the body reaches EOF and reverse_proxy then forwards
//     (backends that merge trailers into headers would trust them).
//
// It runs for every request that reaches the gate, so the common case
// (no such header, no Connection tokens to drop, no body) allocates
// nothing.
func Scrub(r *http.Request) {
	stripTrusted(r.Header)
	dropTrustedTokens(r.Header, "Connection")
	if r.Body == nil || r.Body == http.NoBody {
		return
	}
	dropTrustedTokens(r.Header, "Trailer")
	stripTrusted(r.Trailer)
	if _, guarded := r.Body.(*trailerGuard); !guarded {
		r.Body = &trailerGuard{ReadCloser: r.Body, r: r}
	}
}

// trailerGuard strips trusted names from the trailers at the moment
// net/http merges them in: the Read that returns io.EOF. reverse_proxy
// copies the trailers in that same Read, after this one returns, because
// its own body wrapper sits outside this one.
type trailerGuard struct {
	io.ReadCloser
	r *http.Request
}

func (g *trailerGuard) Read(p []byte) (int, error) {
	n, err := g.ReadCloser.Read(p)
	if err == io.EOF {
		stripTrusted(g.r.Trailer)
	}
	return n, err
}

// DropTrailers removes the trailers and their declaration altogether, for
// a request whose body the edge has replaced with its own.
func DropTrailers(r *http.Request) {
	r.Trailer = nil
	r.Header.Del("Trailer")
}

func stripTrusted(h http.Header) {
	for name := range h {
		if isTrustedName(name) {
			delete(h, name)
		}
	}
}

// dropTrustedTokens removes trusted names from a comma-separated list
// header (Connection, Trailer), keeping every other token, and the header
// itself when nothing is left.
func dropTrustedTokens(h http.Header, key string) {
	vals, ok := h[key]
	if !ok || !anyTrustedToken(vals) {
		return
	}
	var kept []string
	for _, v := range vals {
		for tok := range strings.SplitSeq(v, ",") {
			if tok = caddymodule.TrimOWS(tok); tok != "" && !isTrustedName(tok) {
				kept = append(kept, tok)
			}
		}
	}
	if len(kept) == 0 {
		delete(h, key)
		return
	}
	h[key] = []string{strings.Join(kept, ", ")}
}

func anyTrustedToken(vals []string) bool {
	for _, v := range vals {
		for tok := range strings.SplitSeq(v, ",") {
			if isTrustedName(caddymodule.TrimOWS(tok)) {
				return true
			}
		}
	}
	return false
}

// trustedLength marks the lengths of trustedNames, so that nearly every
// ordinary header is told apart by its length and first byte alone.
var trustedLength = func() (set [32]bool) {
	for _, n := range trustedNames {
		set[len(n)] = true
	}
	return set
}()

// isTrustedName compares without allocating: it runs for every header of
// every request that reaches the gate.
func isTrustedName(name string) bool {
	if len(name) >= len(trustedLength) || !trustedLength[len(name)] || name[0]|0x20 != 'x' {
		return false
	}
	for _, want := range trustedNames {
		if len(name) == len(want) && foldEqual(name, want) {
			return true
		}
	}
	return false
}

// foldEqual compares name to a lowercase want, folding ASCII case and
// treating '_' and '.' as '-'.
func foldEqual(name, want string) bool {
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		case c == '_' || c == '.':
			c = '-'
		}
		if c != want[i] {
			return false
		}
	}
	return true
}
