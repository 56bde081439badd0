package integration

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	. "github.com/caddy-wechat/caddy-wechat/internal/testenv"
)

// forgedTrailerNames are identity names, in the spellings a backend might
// fold onto X-Openid, sent as trailers.
var forgedTrailerNames = []string{"X-Openid", "x-openid", "X_Openid", "X.Openid", "x-unionid", "X_UNIONID", "X-Wechat-Appid", "x.wechat_appid", "X-Wechat-Assertion", "X-Wechatpay-Verified"}

// trailerRequest is a chunked POST that declares forgedTrailerNames and
// X-Keep as trailers and sends them after the last chunk.
func trailerRequest(path, auth string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: localhost\r\n", path)
	if auth != "" {
		fmt.Fprintf(&b, "Authorization: %s\r\n", auth)
	}
	fmt.Fprintf(&b, "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nTrailer: %s, X-Keep\r\nConnection: close\r\n\r\n", strings.Join(forgedTrailerNames, ", "))
	fmt.Fprintf(&b, "2\r\n{}\r\n0\r\n")
	for _, n := range forgedTrailerNames {
		fmt.Fprintf(&b, "%s: forged\r\n", n)
	}
	b.WriteString("X-Keep: kept\r\n\r\n")
	return b.String()
}

// assertNoTrustedName fails if h holds any trusted name, in any spelling.
func assertNoTrustedName(t *testing.T, h http.Header, where string) {
	t.Helper()
	for name, vs := range h {
		if IsTrustedName(name) || strings.Contains(strings.Join(vs, ","), "forged") {
			t.Errorf("%s: %s: %v reached the upstream", where, name, vs)
		}
	}
}

// TestTrailersCannotForgeIdentity: identity names sent as request
// trailers never reach the upstream, with a token, without one under
// optional, and with '_' and '.' names allowed; other trailers still do
// (hardening round 2, defect 1).
func TestTrailersCannotForgeIdentity(t *testing.T) {
	up := NewUpstream(t)
	wx := NewFakeWeChat(t, func(w http.ResponseWriter, r *http.Request, code string, _ int) { OKAnswer(w, code) })
	StartCaddy(t, StdConfig(wx.URL, up.URL))
	c := NewClient()
	tok, _ := Login(t, c, "trailer")

	for _, tc := range []struct {
		name string
		port int
		auth string
	}{
		{"with a token", MainPort, "Bearer " + tok},
		{"optional, anonymous", OptPort, ""},
		{"optional, with a token", OptPort, "Bearer " + tok},
		{"underscores allowed", UnderPort, "Bearer " + tok},
	} {
		_, before := up.Received()
		st, body := RawRequest(t, tc.port, trailerRequest("/x", tc.auth))
		hdr, after := up.Received()
		if st != 200 || after != before+1 {
			t.Fatalf("%s: %d %s", tc.name, st, body)
		}
		tr := up.Trailers()
		if tr.Get("X-Keep") != "kept" {
			t.Errorf("%s: the harmless trailer was lost: %v", tc.name, tr)
		}
		delete(tr, "X-Keep")
		assertNoTrustedName(t, tr, tc.name+" (trailers)")
		for _, decl := range hdr.Values("Trailer") {
			for _, n := range strings.Split(decl, ",") {
				if IsTrustedName(strings.TrimSpace(n)) {
					t.Errorf("%s: the Trailer declaration still names %s", tc.name, n)
				}
			}
		}
		if tc.auth != "" && hdr.Get("X-Openid") != "o-trailer" {
			t.Errorf("%s: X-Openid %q", tc.name, hdr.Get("X-Openid"))
		}
		if tc.auth == "" && hdr.Get("X-Openid") != "" {
			t.Errorf("%s: anonymous request got X-Openid %q", tc.name, hdr.Get("X-Openid"))
		}
	}
}

// TestTrailersCannotForgeThroughDecryptForward: the body wechat_decrypt
// forwards is the edge's own, and carries no trailer of the client's.
func TestTrailersCannotForgeThroughDecryptForward(t *testing.T) {
	wx := NewFakeAPI(t)
	up := NewBodyUpstream(t)
	StartCaddy(t, UDConfig(wx.URL, up.URL, "", ""))
	c := NewClient()
	tok, _ := UDLogin(t, c, "sample", SampleAppID)

	body := JSONBody(t, map[string]string{"encryptedData": SampleData, "iv": SampleIV})
	var b strings.Builder
	fmt.Fprintf(&b, "POST /decrypt/forward HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nTrailer: %s\r\nConnection: close\r\n\r\n", tok, strings.Join(forgedTrailerNames, ", "))
	fmt.Fprintf(&b, "%x\r\n%s\r\n0\r\n", len(body), body)
	for _, n := range forgedTrailerNames {
		fmt.Fprintf(&b, "%s: forged\r\n", n)
	}
	b.WriteString("\r\n")
	st, resp := RawRequest(t, UDPort, b.String())
	if st != 200 {
		t.Fatalf("decrypt forward: %d %s", st, resp)
	}
	_, hdr, _, _ := up.Last()
	tr := up.Trailers()
	if hdr.Get("X-Openid") != SampleOpenID {
		t.Fatalf("X-Openid %q", hdr.Get("X-Openid"))
	}
	assertNoTrustedName(t, tr, "decrypt forward (trailers)")
	if len(tr) != 0 || hdr.Get("Trailer") != "" {
		t.Errorf("the forwarded body carries trailers: %v / %q", tr, hdr.Get("Trailer"))
	}
}

// TestConnectionCannotDropIdentity: a client naming an identity header in
// Connection cannot make the proxy delete the one the gate set; other
// Connection tokens keep working (hardening round 2, defect 2).
func TestConnectionCannotDropIdentity(t *testing.T) {
	up := NewUpstream(t)
	wx := NewFakeWeChat(t, func(w http.ResponseWriter, r *http.Request, code string, _ int) { OKAnswer(w, code) })
	StartCaddy(t, StdConfig(wx.URL, up.URL))
	c := NewClient()
	tok, _ := Login(t, c, "uconn")

	for _, conn := range []string{
		"X-Openid",
		"x-openid, keep-alive",
		"X_Openid",
		"X-Wechat-Appid",
		"keep-alive, X.WECHAT.APPID",
		"X-Unionid",
		"x-openid,x-unionid,x-wechat-appid",
		"X-Openid\t,\tX-Drop-Me",
	} {
		for _, port := range []int{MainPort, OptPort, UnderPort} {
			req := fmt.Sprintf("GET /x HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer %s\r\nConnection: %s, X-Drop-Me\r\nX-Drop-Me: yes\r\n\r\n", tok, conn)
			st, body := RawRequest(t, port, req)
			if st != 200 {
				t.Fatalf("Connection %q on %d: %d %s", conn, port, st, body)
			}
			h, _ := up.Received()
			if h.Get("X-Openid") != "o-uconn" || h.Get("X-Wechat-Appid") != AppID || h.Get("X-Unionid") != "u-uconn" {
				t.Errorf("Connection %q on %d: identity %q %q %q", conn, port, h.Get("X-Openid"), h.Get("X-Wechat-Appid"), h.Get("X-Unionid"))
			}
			if h.Get("X-Drop-Me") != "" {
				t.Errorf("Connection %q on %d: the other token was dropped from Connection, X-Drop-Me reached the upstream", conn, port)
			}
		}
	}
}
