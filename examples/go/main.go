// Command backend is a minimal upstream for the caddy-wechat plugin.
//
// Caddy authenticates the WeChat session and proxies the request here with the
// trusted headers X-Openid, X-Unionid (only when known) and X-Wechat-Appid.
// Anonymous requests (allowed with `optional`) arrive with none of them.
//
// These headers are trustworthy only because this server listens on loopback
// (or a private network) where nothing but Caddy can reach it. With
// WECHAT_JWKS_URL (and WECHAT_ASSERTION_AUDIENCE, optionally
// WECHAT_ASSERTION_ISSUER) set, every request that carries an identity header
// must also carry a valid X-Wechat-Assertion matching it (see assertion.go);
// unset, the headers are trusted as they are.
package main

import (
	"encoding/json"
	"flag"
	"io"
	"log"
	"net/http"
	"os"
	"time"
)

// maxEchoBody caps how much of the request body the echo endpoint returns.
const maxEchoBody = 64 << 10

type meResponse struct {
	Openid  string `json:"openid"`
	Unionid string `json:"unionid,omitempty"`
	Appid   string `json:"appid"`
}

type echoResponse struct {
	Backend string              `json:"backend"`
	Method  string              `json:"method"`
	Path    string              `json:"path"`
	Openid  string              `json:"openid"`
	Unionid string              `json:"unionid"`
	Appid   string              `json:"appid"`
	Headers map[string][]string `json:"headers"`
	Body    string              `json:"body"`
}

func newHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Header.Get is case-insensitive; Caddy sets these headers, overwriting
		// anything the client sent. An empty value counts as absent.
		openid := r.Header.Get("X-Openid")
		unionid := r.Header.Get("X-Unionid")
		appid := r.Header.Get("X-Wechat-Appid")

		if r.URL.Path == "/api/me" {
			if r.Method != http.MethodGet {
				w.Header().Set("Allow", http.MethodGet)
				writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method not allowed"})
				return
			}
			if openid == "" {
				writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthorized"})
				return
			}
			writeJSON(w, http.StatusOK, meResponse{Openid: openid, Unionid: unionid, Appid: appid})
			return
		}

		body, err := io.ReadAll(io.LimitReader(r.Body, maxEchoBody))
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "cannot read body"})
			return
		}
		headers := r.Header.Clone()
		headers.Set("Host", r.Host) // net/http moves Host out of r.Header
		writeJSON(w, http.StatusOK, echoResponse{
			Backend: "go",
			Method:  r.Method,
			Path:    r.URL.EscapedPath(),
			Openid:  openid,
			Unionid: unionid,
			Appid:   appid,
			Headers: headers,
			Body:    string(body),
		})
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func main() {
	def := os.Getenv("ADDR")
	if def == "" {
		def = "127.0.0.1:9000"
	}
	addr := flag.String("addr", def, "listen address; keep it on loopback or a private network so only Caddy can reach it")
	payDef := os.Getenv("WECHATPAY_API")
	if payDef == "" {
		payDef = "http://127.0.0.1:2020"
	}
	payAPI := flag.String("pay-api", payDef, "origin of the edge's internal wechatpay_api listener (see pay.go)")
	flag.Parse()

	handler := newShop(*payAPI).handler(newHandler())
	mode := "trusting the headers (WECHAT_JWKS_URL unset)"
	verifier, err := newAssertionVerifier(os.Getenv("WECHAT_JWKS_URL"), os.Getenv("WECHAT_ASSERTION_AUDIENCE"), os.Getenv("WECHAT_ASSERTION_ISSUER"))
	if err != nil {
		log.Fatal(err)
	}
	if verifier != nil {
		handler = verifier.middleware(handler)
		mode = "verifying X-Wechat-Assertion with " + verifier.jwksURL
	}

	srv := &http.Server{Addr: *addr, Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	log.Printf("go backend listening on http://%s, %s", *addr, mode)
	log.Fatal(srv.ListenAndServe())
}
