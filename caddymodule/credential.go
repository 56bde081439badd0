package caddymodule

import (
	"net/http"
	"strings"
)

// Credential is what an Authorization header holds.
type Credential int

const (
	CredNone      Credential = iota // no Authorization, or only other schemes
	CredBearer                      // exactly one usable Bearer Credential
	CredMalformed                   // a Bearer Credential that cannot be used
)

// BearerToken reads the Authorization header as RFC 9110 reads
// Credentials: the scheme in any letter case, then one or more spaces or
// tabs, then the token. Anything that names the Bearer scheme but is not
// exactly one such Credential is malformed, never "no token": under
// optional it would otherwise reach the backend as if anonymous.
func BearerToken(h http.Header) (string, Credential) {
	vals := h["Authorization"]
	bearers := 0
	for _, v := range vals {
		for more := true; more; {
			var seg string
			seg, v, more = strings.Cut(v, ",")
			if hasBearerScheme(seg) {
				bearers++
			}
		}
	}
	switch {
	case bearers == 0:
		return "", CredNone
	case bearers > 1 || len(vals) > 1:
		return "", CredMalformed
	}
	v := TrimOWS(vals[0])
	if strings.IndexByte(v, ',') >= 0 || !hasBearerScheme(v) {
		return "", CredMalformed // a Bearer Credential among others
	}
	rest := v[len("bearer"):]
	token := trimLeftOWS(rest)
	if len(token) == len(rest) || token == "" {
		return "", CredMalformed
	}
	return token, CredBearer
}

// hasBearerScheme reports whether a Credential, after optional
// whitespace, starts with the Bearer scheme: "bearer" in any case, not
// followed by another token character (so "Bearerx" is another scheme).
func hasBearerScheme(s string) bool {
	s = trimLeftOWS(s)
	if len(s) < len("bearer") || !strings.EqualFold(s[:len("bearer")], "bearer") {
		return false
	}
	return len(s) == len("bearer") || !isTokenChar(s[len("bearer")])
}

// trimLeftOWS drops leading spaces and tabs (RFC 9110's OWS) without
// strings.Trim's per-call cutset, on every request's Authorization.
func trimLeftOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	return s
}

// TrimOWS drops leading and trailing spaces and tabs.
func TrimOWS(s string) string {
	s = trimLeftOWS(s)
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// isTokenChar reports whether c may appear in an RFC 9110 token.
func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// SessionCredential finds r's session token: Authorization: Bearer first,
// else, with cookie sessions on, our cookie. An empty cookie is no
// credential.
func (a *App) SessionCredential(r *http.Request) (tok string, kind Credential, fromCookie bool) {
	tok, kind = BearerToken(r.Header)
	if kind == CredNone && a.Cookie != nil {
		if t, ok := a.Cookie.Token(r.Header); ok && t != "" {
			return t, CredBearer, true
		}
	}
	return tok, kind, false
}
