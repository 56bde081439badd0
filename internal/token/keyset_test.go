package token_test

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/caddy-wechat/caddy-wechat/internal/token"
	"github.com/caddy-wechat/caddy-wechat/internal/token/tokentest"
)

// Tokens minted by the release before key sets (one keyring), with the
// key below, for 100 years: they must keep verifying and opening.
const (
	legacyKey     = "legacy-signing-key-0123456789-abcdefghijklm"
	legacyKID     = "2ca05a1a69303d1c"
	legacyHS256   = "eyJhbGciOiJIUzI1NiIsImtpZCI6IjJjYTA1YTFhNjkzMDNkMWMiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiJjYWRkeS13ZWNoYXQiLCJzdWIiOiJvTGVnYWN5VXNlcjAxMjM0NTY3ODlhYmNkZWZnIiwiYXVkIjoid3gwMTIzNDU2Nzg5YWJjZGVmIiwiaWF0IjoxNzk2MDAwMDAwLCJleHAiOjQ5NDk2MDAwMDAsImp0aSI6IkZ3Z3BmbDJGN1ZUVEExeS05WWVPa2ciLCJ1bmlvbmlkIjoib0xlZ2FjeVVuaW9uMDEyMzQ1Njc4OWFiY2RlZiIsInNrIjoieVZOS1VjdGJYRmlTQjNCbEhDd3lwempWWjUwN0lRS2JEdURDQ29tN2JncklmQ2wwZTFmTmRhbXpaRWVSMi11bVllanNTdyJ9.-ggM0uHJQLR2wNAfYbEJoA51QiFdZ6ggAt3VefpTomg"
	legacyEdKID   = "d95cb87e86a08333"
	legacyEdDSA   = "eyJhbGciOiJFZERTQSIsImtpZCI6ImQ5NWNiODdlODZhMDgzMzMiLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiJjYWRkeS13ZWNoYXQiLCJzdWIiOiJvTGVnYWN5VXNlcjAxMjM0NTY3ODlhYmNkZWZnIiwiYXVkIjoid3gwMTIzNDU2Nzg5YWJjZGVmIiwiaWF0IjoxNzk2MDAwMDAwLCJleHAiOjQ5NDk2MDAwMDAsImp0aSI6ImR5Y2Qxai1SR05aMHpscEVEYzJTamciLCJzayI6IjA2Q1Uzd1lmZUpQZGM4STVORkJ1YjAyeVlEX3pONVBmS1RBQXJucnc0WHh1N25DSzNpWk5NYnRobFFwdmNIRGJYT2tVbVEifQ.-XJjcVf1x6sMIJ-96-8sf4jd9_QVQsR3j7qhE4OrNkegmiaN4Z5kOvwqpHWUaYMWsMwr58NfY661kOZ6H_HRBg"
	legacyOpenID  = "oLegacyUser0123456789abcdefg"
	legacyUnionID = "oLegacyUnion0123456789abcdef"
)

func known(id string) bool { return id == tokentest.AppID }

// TestTokensFromBeforeKeySets: the kid derivation and the seal label are
// unchanged, so that tokens live at the upgrade survive it, session_key
// included.
func TestTokensFromBeforeKeySets(t *testing.T) {
	hs := tokentest.KeySet(t, "caddy-wechat", token.HS256, []byte(legacyKey))
	if got := hs.Current().ID; got != legacyKID {
		t.Fatalf("HS256 kid %s, want %s", got, legacyKID)
	}
	edPEM, _ := tokentest.EdPEM(t)
	ed := tokentest.KeySet(t, "caddy-wechat", token.EdDSA, edPEM)
	if got := ed.Current().ID; got != legacyEdKID {
		t.Fatalf("EdDSA kid %s, want %s", got, legacyEdKID)
	}
	for _, tc := range []struct {
		ks             *token.KeySet
		tok, sk, union string
	}{
		{hs, legacyHS256, "tiihtNczf5v6AKRyjwEUhQ==", legacyUnionID},
		{ed, legacyEdDSA, "o0q0otL8aEzpcZL/FT9WsQ==", ""},
	} {
		id, err := token.NewVerifier(tc.ks, known).Verify(tc.tok)
		if err != nil {
			t.Fatalf("%s: a token from before key sets is refused: %v", tc.ks.Current().Alg(), err)
		}
		if id.OpenID != legacyOpenID || id.UnionID != tc.union || id.AppID != tokentest.AppID {
			t.Fatalf("identity %+v", id)
		}
		// Before sessions, a token is its own session, begun when issued.
		if id.SID != id.ID || !id.AuthTime.Equal(id.IssuedAt) {
			t.Fatalf("a token from before sessions: sid %q (jti %q), auth_time %v (iat %v)", id.SID, id.ID, id.AuthTime, id.IssuedAt)
		}
		sk, err := tc.ks.SessionKey(id)
		if err != nil || sk != tc.sk {
			t.Fatalf("%s: its session_key opens as %q, %v", tc.ks.Current().Alg(), sk, err)
		}
	}
}

// TestKeySetRotation: the first key signs, every key verifies, chosen by
// kid; a session_key sealed under a previous key opens while that key is
// in the set; once it is removed, its tokens are refused.
func TestKeySetRotation(t *testing.T) {
	old, err := token.NewKey(token.HS256, []byte(legacyKey))
	if err != nil {
		t.Fatal(err)
	}
	edPEM, _ := tokentest.EdPEM(t)
	cur, err := token.NewKey(token.EdDSA, edPEM)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := token.NewKeySet("caddy-wechat", old)
	oldTok, _, err := before.Mint(token.Session{AppID: tokentest.AppID, OpenID: "oRotate", SessionKey: "tiihtNczf5v6AKRyjwEUhQ=="}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	after, err := token.NewKeySet("caddy-wechat", cur, old)
	if err != nil {
		t.Fatal(err)
	}
	v := token.NewVerifier(after, known)
	id, err := v.Verify(oldTok)
	if err != nil {
		t.Fatalf("a token of the previous key is refused: %v", err)
	}
	if sk, err := after.SessionKey(id); err != nil || sk != "tiihtNczf5v6AKRyjwEUhQ==" {
		t.Fatalf("its session_key: %q %v", sk, err)
	}
	newTok, _, err := after.Mint(token.Session{AppID: tokentest.AppID, OpenID: "oRotate", SessionKey: "o0q0otL8aEzpcZL/FT9WsQ=="}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	parsed, _, _ := jwt.NewParser().ParseUnverified(newTok, jwt.MapClaims{})
	if parsed.Header["alg"] != token.EdDSA || parsed.Header["kid"] != cur.ID {
		t.Fatalf("the new token is signed by %v %v, not the current key", parsed.Header["alg"], parsed.Header["kid"])
	}
	sealed, _ := parsed.Claims.(jwt.MapClaims)["sk"].(string)
	if !strings.HasPrefix(sealed, cur.ID+".") {
		t.Fatalf("the sealed session_key does not name its key: %q", sealed)
	}
	if _, err := v.Verify(newTok); err != nil {
		t.Fatalf("the new token: %v", err)
	}
	// The previous key removed: its tokens go.
	only, _ := token.NewKeySet("caddy-wechat", cur)
	if _, err := token.NewVerifier(only, known).Verify(oldTok); err == nil {
		t.Fatal("a removed key's token verified")
	}
	hsOnly, _ := token.NewKeySet("caddy-wechat", tokentest.KeySet(t, "caddy-wechat", token.HS256, []byte(tokentest.Key)).Current())
	if _, err := token.NewVerifier(hsOnly, known).Verify(oldTok); !errors.Is(err, token.ErrKeyID) {
		t.Fatalf("a token under a kid the set lacks: %v, want ErrKeyID", err)
	}
	// An HS256 token under the EdDSA key's kid, signed with its public
	// key as the secret, must not verify: the key decides the algorithm.
	confused := tokentest.Sign(t, jwt.SigningMethodHS256, []byte(cur.PublicKey().(ed25519.PublicKey)), jwt.MapClaims{"iss": "caddy-wechat", "sub": "x", "aud": tokentest.AppID, "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix()}, cur.ID)
	if _, err := v.Verify(confused); err == nil {
		t.Fatal("alg confusion: an HS256 token under an EdDSA kid verified")
	}
}

func TestKeySetRefusesDuplicateKIDs(t *testing.T) {
	a, _ := token.NewKey(token.HS256, []byte(legacyKey))
	b, _ := token.NewKey(token.HS256, []byte(legacyKey))
	if _, err := token.NewKeySet("caddy-wechat", a, b); err == nil || !strings.Contains(err.Error(), "same kid") {
		t.Fatalf("two keys with one kid: %v", err)
	}
	if _, err := token.NewKeySet("caddy-wechat"); err == nil {
		t.Fatal("an empty key set was accepted")
	}
}

// TestSealedKeyIsBoundToItsUser: a sealed session_key moved into another
// user's token does not open.
func TestSealedKeyIsBoundToItsUser(t *testing.T) {
	ks := tokentest.KeySet(t, "caddy-wechat", token.HS256, []byte(legacyKey))
	v := token.NewVerifier(ks, known)
	tokA, _, _ := ks.Mint(token.Session{AppID: tokentest.AppID, OpenID: "oAlice", SessionKey: "tiihtNczf5v6AKRyjwEUhQ=="}, time.Now(), time.Hour)
	claimsA := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(tokA, claimsA); err != nil {
		t.Fatal(err)
	}
	forged := tokentest.Sign(t, jwt.SigningMethodHS256, []byte(legacyKey), jwt.MapClaims{
		"iss": "caddy-wechat", "sub": "oMallory", "aud": tokentest.AppID, "jti": "m",
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(), "sk": claimsA["sk"],
	}, ks.Current().ID)
	id, err := v.Verify(forged)
	if err != nil {
		t.Fatal(err)
	}
	if sk, err := ks.SessionKey(id); !errors.Is(err, token.ErrNoSessionKey) {
		t.Fatalf("alice's sealed key opened in mallory's token: %q %v", sk, err)
	}
}

// TestRenewalResealsUnderTheCurrentKey: a session's sealed session_key,
// carried into a token minted after a rotation, moves to the current key,
// so that it survives the previous key's removal.
func TestRenewalResealsUnderTheCurrentKey(t *testing.T) {
	old := tokentest.KeySet(t, "caddy-wechat", token.HS256, []byte(legacyKey))
	oldTok, _, err := old.Mint(token.Session{AppID: tokentest.AppID, OpenID: "oReseal", SessionKey: "tiihtNczf5v6AKRyjwEUhQ=="}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cur, err := token.NewKey(token.HS256, []byte(tokentest.Key))
	if err != nil {
		t.Fatal(err)
	}
	rotated, _ := token.NewKeySet("caddy-wechat", cur, old.Current())
	id, err := token.NewVerifier(rotated, known).Verify(oldTok)
	if err != nil {
		t.Fatal(err)
	}
	renewed, _, err := rotated.Mint(id.Session(), time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	only, _ := token.NewKeySet("caddy-wechat", cur)
	rid, err := token.NewVerifier(only, known).Verify(renewed)
	if err != nil {
		t.Fatal(err)
	}
	if sk, err := only.SessionKey(rid); err != nil || sk != "tiihtNczf5v6AKRyjwEUhQ==" {
		t.Fatalf("the renewed token's session_key after the old key's removal: %q %v", sk, err)
	}
}

// TestES256Keys: ES256 keys in PKCS#8 and SEC 1 PEM sign and verify, have
// a stable kid, a P-256 JWK, and are told apart from other material.
func TestES256Keys(t *testing.T) {
	pemKey, err := token.GenerateKey(token.ES256)
	if err != nil {
		t.Fatal(err)
	}
	if alg, err := token.KeyAlg(pemKey); alg != token.ES256 || err != nil {
		t.Fatalf("KeyAlg(ES256 PEM) = %q %v", alg, err)
	}
	k1, err := token.NewKey(token.ES256, pemKey)
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := token.NewKey(token.ES256, pemKey)
	if k1.ID != k2.ID || len(k1.ID) != 16 {
		t.Fatalf("kid %q / %q: want one stable 16-hex-digit kid", k1.ID, k2.ID)
	}
	ks, _ := token.NewKeySet("caddy-wechat", k1)
	tok, _, err := ks.Mint(token.Session{AppID: tokentest.AppID, OpenID: "oES", SessionKey: "tiihtNczf5v6AKRyjwEUhQ=="}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	id, err := token.NewVerifier(ks, known).Verify(tok)
	if err != nil || id.OpenID != "oES" {
		t.Fatalf("ES256 token: %v %v", id, err)
	}
	if sk, err := ks.SessionKey(id); err != nil || sk != "tiihtNczf5v6AKRyjwEUhQ==" {
		t.Fatalf("ES256 session_key: %q %v", sk, err)
	}
	jwk, ok := k1.JWK()
	if !ok || jwk.Kty != "EC" || jwk.Crv != "P-256" || len(jwk.X) != 43 || len(jwk.Y) != 43 || jwk.Alg != "ES256" || jwk.Use != "sig" || jwk.Kid != k1.ID {
		t.Fatalf("ES256 JWK %+v", jwk)
	}
	edPEM, _ := tokentest.EdPEM(t)
	for material, want := range map[string]string{string(edPEM): token.EdDSA, "just-some-hs256-bytes-0123456789abcdef": token.HS256} {
		if alg, err := token.KeyAlg([]byte(material)); alg != want || err != nil {
			t.Errorf("KeyAlg = %q %v, want %s", alg, err, want)
		}
	}
	if _, ok := tokentest.KeySet(t, "caddy-wechat", token.HS256, []byte(tokentest.Key)).Current().JWK(); ok {
		t.Error("an HS256 key has a JWK: the shared secret would be published")
	}
	if _, err := token.KeyAlg([]byte("-----BEGIN PRIVATE KEY-----\nMAA=\n-----END PRIVATE KEY-----\n")); err == nil {
		t.Error("a broken PEM was taken for a key")
	}
}
