package caddymodule

import "net/http"

// Identity headers the gate sets. Canonical form, as net/http stores them.
const (
	hdrOpenID  = "X-Openid"
	hdrUnionID = "X-Unionid"
	hdrAppID   = "X-Wechat-Appid"
)

// identityNames are the lowercased names, with '-' as separator, that any
// client-supplied header is compared against.
var identityNames = [...]string{"x-openid", "x-unionid", "x-wechat-appid"}

// stripIdentity deletes every client-supplied identity header, whatever its
// letter case and whether it uses '-', '_' or '.' as separator. CGI and
// PHP-FPM turn all three into the same HTTP_X_OPENID variable, so a
// variant that survives is a forged identity; Caddy drops '_' and '.'
// names by default, but operators can allow them and we must not rely on
// that default.
func stripIdentity(h http.Header) {
	for name := range h {
		if isIdentityName(name) {
			delete(h, name)
		}
	}
}

// isIdentityName compares without allocating: it runs for every header of
// every request that reaches the gate.
func isIdentityName(name string) bool {
	for _, want := range identityNames {
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
