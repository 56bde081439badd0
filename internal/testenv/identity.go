package testenv

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"testing"
)

// The ports of IdentityConfig's sites.
var (
	IDPort        = pickPort() // login, decrypt, jwks, the gate with an assertion
	IDRespondPort = pickPort() // wechat_auth { respond }
)

// IdentityOpts are what a test puts into IdentityConfig.
type IdentityOpts struct {
	Token     string // the token block's body; default: the fixture key, ttl 1h
	Assertion string // the wechat app's assertion block's body, if any
	Gate      string // the assertion gate's block body; default: assertion
	Respond   string // the respond gate's block body; default: respond, assertion
	Sites     string
}

// IdentityConfig is a Caddyfile for keys, JWKS, assertions and the
// forward-auth mode: on IDPort /login, /decrypt (behind a plain gate),
// /.well-known/jwks.json, and everything else behind a gate with the
// options of o.Gate to up; on IDRespondPort a gate in respond mode.
func IdentityConfig(apiBase, up string, o IdentityOpts) string {
	if o.Token == "" {
		o.Token = "signing_key " + SigningKey + "\n\t\t\tttl 1h"
	}
	if o.Gate == "" {
		o.Gate = "assertion"
	}
	if o.Respond == "" {
		o.Respond = "respond\n\t\tassertion"
	}
	assertion := ""
	if o.Assertion != "" {
		assertion = "assertion {\n\t\t\t" + o.Assertion + "\n\t\t}"
	}
	return fmt.Sprintf(`{
	admin localhost:2999
	auto_https off
	skip_install_trust
	wechat {
		api_base %[1]s
		timeout 1s
		app %[2]s {
			secret %[3]s
		}
		token {
			%[4]s
		}
		%[5]s
	}
}
:%[6]d {
	wechat_login /login {
		rate_limit client 100000 1m
	}
	wechat_jwks /.well-known/jwks.json
	handle /decrypt {
		wechat_auth
		wechat_decrypt
	}
	handle {
		wechat_auth {
			%[8]s
		}
		reverse_proxy %[10]s {
			transport http {
				keepalive 2s
			}
		}
	}
}
:%[7]d {
	wechat_auth {
		%[9]s
	}
}
%[11]s
`, apiBase, AppID, Secret, o.Token, assertion, IDPort, IDRespondPort, o.Gate, o.Respond, up, o.Sites)
}

// JWKSet is a fetched JWKS, by kid.
type JWKSet map[string]map[string]any

// FetchJWKS gets the set at u and checks its shape.
func FetchJWKS(t *testing.T, u string) (JWKSet, http.Header) {
	t.Helper()
	resp, err := NewClient().Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d", u, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatalf("JWKS: %v", err)
	}
	out := JWKSet{}
	for _, k := range set.Keys {
		kid, _ := k["kid"].(string)
		out[kid] = k
	}
	return out, resp.Header
}

// PublicKey is the key a JWK describes: ed25519.PublicKey or
// *ecdsa.PublicKey.
func (s JWKSet) PublicKey(t *testing.T, kid string) any {
	t.Helper()
	k, ok := s[kid]
	if !ok {
		t.Fatalf("kid %s is not in the JWKS", kid)
	}
	b64 := func(name string) []byte {
		v, _ := k[name].(string)
		raw, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil {
			t.Fatalf("JWK %s: %v", name, err)
		}
		return raw
	}
	switch k["kty"] {
	case "OKP":
		return ed25519.PublicKey(b64("x"))
	case "EC":
		return &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(b64("x")), Y: new(big.Int).SetBytes(b64("y"))}
	}
	t.Fatalf("JWK of kty %v", k["kty"])
	return nil
}
