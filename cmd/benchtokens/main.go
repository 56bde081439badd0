// Command benchtokens mints session tokens for the benchmark (.ci/bench):
// N distinct users of one app, signed as wechat_login would sign them,
// one token per line, so that wrk can send 100,000 users' tokens
// round-robin. With -genkey it writes a new signing key instead; with
// -logout it posts every token of -out to a wechat_logout URL instead.
//
//	benchtokens -alg HS256 -key "$KEY" -n 100000 -out tokens.txt
//	benchtokens -alg EdDSA -key-file ed.pem -n 100000 -out tokens.txt
//	benchtokens -alg EdDSA -genkey -out ed.pem
//	benchtokens -logout http://127.0.0.1:9422/logout -out revoked.txt
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/caddy-wechat/caddy-wechat/internal/token"
)

func main() {
	alg := flag.String("alg", token.HS256, "HS256 or EdDSA")
	key := flag.String("key", "", "the HS256 signing key itself")
	keyFile := flag.String("key-file", "", "a file holding the signing key (an Ed25519 PEM for EdDSA)")
	genkey := flag.Bool("genkey", false, "write a new signing key of -alg to -out and stop")
	n := flag.Int("n", 100_000, "how many users' tokens")
	appID := flag.String("appid", "wx0123456789abcdef", "the app the tokens are for")
	issuer := flag.String("issuer", "caddy-wechat", "the iss claim")
	ttl := flag.Duration("ttl", 2*time.Hour, "how long the tokens are valid")
	out := flag.String("out", "", "the output file")
	logoutURL := flag.String("logout", "", "post every token of -out to this wechat_logout URL and stop")
	flag.Parse()
	if *logoutURL != "" {
		if err := logoutAll(*out, *logoutURL); err != nil {
			fmt.Fprintln(os.Stderr, "benchtokens:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*alg, *key, *keyFile, *genkey, *n, *appID, *issuer, *ttl, *out); err != nil {
		fmt.Fprintln(os.Stderr, "benchtokens:", err)
		os.Exit(1)
	}
}

func run(alg, key, keyFile string, genkey bool, n int, appID, issuer string, ttl time.Duration, out string) error {
	if out == "" {
		return fmt.Errorf("-out is required")
	}
	if genkey {
		material, err := token.GenerateKey(alg)
		if err != nil {
			return err
		}
		return os.WriteFile(out, material, 0o600)
	}
	material := []byte(key)
	if keyFile != "" {
		var err error
		if material, err = os.ReadFile(keyFile); err != nil {
			return err
		}
	}
	k, err := token.NewKey(alg, material)
	if err != nil {
		return err
	}
	ks, err := token.NewKeySet(issuer, k)
	if err != nil {
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	now := time.Now()
	for i := range n {
		tok, _, err := ks.Mint(token.Session{
			AppID:      appID,
			OpenID:     fmt.Sprintf("oBench%022d", i),
			SessionKey: "tiihtNczf5v6AKRyjwEUhQ==",
		}, now, ttl)
		if err != nil {
			return err
		}
		fmt.Fprintln(w, tok)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}
