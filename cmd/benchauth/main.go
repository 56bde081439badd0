// Command benchauth is the forward_auth service of the end-to-end
// benchmark (make -f xcaddy.mk bench). It does what an external auth
// service in front of the same backend would do with caddy-wechat's
// tokens: it verifies "Authorization: Bearer <HS256 JWT>" with the signing
// key and answers 200 with X-Openid set to the token's subject, or 401.
//
// It checks what wechat_auth checks that matters for the cost: HS256
// only, a valid signature, exp required and not past, the issuer, and a
// subject and audience present.
package main

import (
	"errors"
	"flag"
	"log"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// maxTokenBytes matches the gate's limit.
const maxTokenBytes = 4096

func main() {
	addr := flag.String("addr", "127.0.0.1:9402", "listen address")
	key := flag.String("key", "", "the HS256 signing key, as in the Caddy config (default: $BENCH_SIGNING_KEY)")
	issuer := flag.String("issuer", "caddy-wechat", "the expected iss claim")
	flag.Parse()
	if *key == "" {
		*key = os.Getenv("BENCH_SIGNING_KEY")
	}
	if len(*key) < 32 {
		log.Fatal("benchauth: -key (or BENCH_SIGNING_KEY) must be the HS256 signing key, 32 bytes or more")
	}

	v := &verifier{
		key: []byte(*key),
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithExpirationRequired(),
			jwt.WithIssuer(*issuer),
			jwt.WithLeeway(5*time.Second),
		),
	}
	srv := &http.Server{
		Addr:              *addr,
		Handler:           v,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       5 * time.Minute, // keep-alive stays on (the default)
	}
	log.Printf("benchauth: listening on %s", *addr)
	log.Fatal(srv.ListenAndServe())
}

type verifier struct {
	key    []byte
	parser *jwt.Parser
}

var errClaims = errors.New("token has no subject or audience")

func (v *verifier) keyFunc(*jwt.Token) (any, error) { return v.key, nil }

func (v *verifier) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	token, ok := bearer(r.Header.Get("Authorization"))
	if !ok || len(token) > maxTokenBytes {
		w.Header().Set("WWW-Authenticate", `Bearer realm="wechat"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var c jwt.RegisteredClaims
	_, err := v.parser.ParseWithClaims(token, &c, v.keyFunc)
	if err == nil && (c.Subject == "" || len(c.Audience) == 0) {
		err = errClaims
	}
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="wechat", error="invalid_token"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	w.Header()["X-Openid"] = []string{c.Subject}
	w.WriteHeader(http.StatusOK)
}

func bearer(h string) (string, bool) {
	scheme, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token := strings.TrimSpace(rest)
	return token, token != ""
}
