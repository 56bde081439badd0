package caddymodule

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddy-wechat/caddy-wechat/internal/token"
)

// TestKeygen: every algorithm's key is in the form token takes, an
// asymmetric one comes with its public JWK on the other stream, and the
// key file gets nothing else.
func TestKeygen(t *testing.T) {
	for _, alg := range []string{"HS256", "EdDSA", "ES256", "eddsa"} {
		var out, info bytes.Buffer
		if err := keygen(&out, &info, alg); err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		material := strings.TrimSuffix(out.String(), "\n") // as {file.*} reads it
		detected, err := token.KeyAlg([]byte(material))
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		k, err := token.NewKey(detected, []byte(material))
		if err != nil {
			t.Fatalf("%s: the printed key does not load: %v", alg, err)
		}
		if !strings.EqualFold(detected, alg) {
			t.Errorf("%s: the printed key reads as %s", alg, detected)
		}
		if detected == token.HS256 {
			if info.Len() != 0 || len(material) < token.MinHS256Bytes || strings.ContainsAny(material, " \n") {
				t.Errorf("HS256: key %q, info %q", material, info.String())
			}
			continue
		}
		line := strings.TrimSpace(info.String()[strings.Index(info.String(), "\n"):])
		var jwk token.JWK
		if err := json.Unmarshal([]byte(line), &jwk); err != nil {
			t.Fatalf("%s: the JWK %q: %v", alg, line, err)
		}
		if want, _ := k.JWK(); jwk != want {
			t.Errorf("%s: JWK %+v, want %+v", alg, jwk, want)
		}
		if strings.Contains(info.String(), "PRIVATE") || strings.Contains(out.String(), "kty") {
			t.Errorf("%s: private and public output are mixed", alg)
		}
	}
	if err := keygen(new(bytes.Buffer), new(bytes.Buffer), "RS256"); err == nil {
		t.Error("RS256 was accepted")
	}
}
