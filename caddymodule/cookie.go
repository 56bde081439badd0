package caddymodule

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// CookieConfig configures cookie sessions.
type CookieConfig struct {
	// Name is the cookie's name. Default: wechat_session.
	Name string `json:"name,omitempty"`

	// Domain makes the cookie valid for a domain and its subdomains.
	// Default: host-only, the safest.
	Domain string `json:"domain,omitempty"`

	// Path is the cookie's path. Default: /.
	Path string `json:"path,omitempty"`

	// SameSite is lax (default), strict or none. none needs Secure on:
	// browsers drop a SameSite=None cookie that is not Secure.
	SameSite string `json:"same_site,omitempty"`

	// Secure is auto (default): Secure, except over plain http:// to
	// localhost, 127.0.0.1 or ::1, for development; or on: always.
	Secure string `json:"secure,omitempty"`

	// AllowedOrigins are the origins, besides the site's own, whose pages
	// may send unsafe requests with the cookie and call the edge across
	// origins (CORS), such as https://h5.example.com.
	AllowedOrigins []string `json:"allowed_origins,omitempty"`

	sameSite http.SameSite
	origins  map[string]bool
}

const defaultCookieName = "wechat_session"

// provision applies the defaults and checks the choices; a nil config
// (no cookie sessions) is fine.
func (c *CookieConfig) provision() error {
	if c == nil {
		return nil
	}
	if c.Name == "" {
		c.Name = defaultCookieName
	}
	if c.Path == "" {
		c.Path = "/"
	}
	switch strings.ToLower(c.SameSite) {
	case "", "lax":
		c.sameSite = http.SameSiteLaxMode
	case "strict":
		c.sameSite = http.SameSiteStrictMode
	case "none":
		c.sameSite = http.SameSiteNoneMode
	default:
		return fmt.Errorf("wechat: cookie same_site %q: expected lax, strict or none", c.SameSite)
	}
	switch c.Secure {
	case "", "auto", "on":
	default:
		return fmt.Errorf("wechat: cookie secure %q: expected auto or on", c.Secure)
	}
	if c.sameSite == http.SameSiteNoneMode && c.Secure != "on" {
		return errors.New("wechat: cookie same_site none needs secure on: browsers drop a SameSite=None cookie that is not Secure")
	}
	c.origins = make(map[string]bool, len(c.AllowedOrigins))
	for _, o := range c.AllowedOrigins {
		norm, err := normalOrigin(o)
		if err != nil {
			return fmt.Errorf("wechat: cookie allowed_origins %q: %v", o, err)
		}
		c.origins[norm] = true
	}
	return nil
}

// normalOrigin checks an origin (scheme://host[:port], nothing more) and
// lowercases it, as browsers send it.
func normalOrigin(o string) (string, error) {
	o = strings.ToLower(strings.TrimSuffix(o, "/"))
	scheme, host, ok := strings.Cut(o, "://")
	if !ok || (scheme != "http" && scheme != "https") || host == "" || strings.ContainsAny(host, "/?#@ ") {
		return "", errors.New("an origin is scheme://host[:port], such as https://h5.example.com")
	}
	return o, nil
}

// Cookies is the cookie configuration, or nil without cookie sessions.
func (a *App) Cookies() *CookieConfig { return a.Cookie }

// Token finds the session cookie among the Cookie headers: the first one
// of that name, as browsers send the most specific first.
func (c *CookieConfig) Token(h http.Header) (string, bool) {
	for _, line := range h["Cookie"] {
		for part := range strings.SplitSeq(line, ";") {
			name, val, ok := strings.Cut(strings.TrimLeft(part, " \t"), "=")
			if ok && name == c.Name {
				return strings.Trim(strings.TrimSpace(val), `"`), true
			}
		}
	}
	return "", false
}

// Strip removes the session cookie from the Cookie headers passed on.
// Every other cookie goes on byte for byte, separators included: a line
// without ours is not touched, and from one with it only our pair and
// its separator are cut. It edits the request's own header in place.
func (c *CookieConfig) Strip(h http.Header) {
	lines := h["Cookie"]
	n := 0
	for _, line := range lines {
		if strings.Contains(line, c.Name) {
			if line = c.cut(line); strings.TrimSpace(line) == "" {
				continue
			}
		}
		lines[n] = line
		n++
	}
	if n == 0 {
		delete(h, "Cookie")
		return
	}
	h["Cookie"] = lines[:n]
}

// cut removes every pair of ours from one Cookie line.
func (c *CookieConfig) cut(line string) string {
	for start := 0; start < len(line); {
		end := strings.IndexByte(line[start:], ';')
		if end < 0 {
			end = len(line)
		} else {
			end += start
		}
		seg := strings.TrimLeft(line[start:end], " \t")
		if name, _, _ := strings.Cut(seg, "="); name != c.Name {
			start = end + 1
			continue
		}
		switch {
		case start > 0: // "a=1; ours" or "a=1; ours; b=2": cut "; ours"
			line = line[:start-1] + line[end:]
			start--
		case end < len(line): // "ours; b=2": cut "ours;" and the space after it
			line = strings.TrimLeft(line[end+1:], " \t")
		default: // the line is ours alone
			return ""
		}
	}
	return line
}

// Set sends the session cookie holding tok until exp.
func (c *CookieConfig) Set(w http.ResponseWriter, r *http.Request, tok string, exp time.Time) {
	ck := c.cookie(r, tok)
	ck.MaxAge = int(max(time.Until(exp)/time.Second, 1))
	http.SetCookie(w, ck)
}

// Clear tells the browser to drop the session cookie.
func (c *CookieConfig) Clear(w http.ResponseWriter, r *http.Request) {
	ck := c.cookie(r, "")
	ck.MaxAge = -1
	http.SetCookie(w, ck)
}

func (c *CookieConfig) cookie(r *http.Request, val string) *http.Cookie {
	return &http.Cookie{
		Name:     c.Name,
		Value:    val,
		Domain:   c.Domain,
		Path:     c.Path,
		HttpOnly: true,
		Secure:   c.Secure == "on" || r.TLS != nil || !isLocalHost(r.Host),
		SameSite: c.sameSite,
	}
}

// isLocalHost reports a host that a developer reaches over plain http.
func isLocalHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

// ownOrigin is the origin of the site the request was sent to.
func ownOrigin(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + strings.ToLower(r.Host)
}

// AllowsOrigin reports whether a page of origin may act with the cookie:
// the site's own origin, or one of AllowedOrigins.
func (c *CookieConfig) AllowsOrigin(r *http.Request, origin string) bool {
	o := strings.ToLower(origin)
	return o == ownOrigin(r) || c.origins[o]
}

// CrossSite reports whether a request that carries the cookie must be
// refused as a cross-site request forgery: an unsafe method from a page
// of an origin that is not allowed, or, without Origin, from another
// site by the browser's own account (Sec-Fetch-Site).
func (c *CookieConfig) CrossSite(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	if origin := r.Header.Get("Origin"); origin != "" {
		return !c.AllowsOrigin(r, origin)
	}
	return r.Header.Get("Sec-Fetch-Site") == "cross-site"
}
