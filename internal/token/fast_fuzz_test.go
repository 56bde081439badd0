package token

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"testing"
	"time"
)

// The fixture of the differential fuzz targets: an HS256 and an EdDSA
// key set, and a fixed clock.
type diffFixture struct {
	hs, ed, es    *KeySet
	hsV, edV, esV *Verifier
	edPriv        ed25519.PrivateKey
	now           time.Time
	byName        map[string]string
	expandRepl    *strings.Replacer
}

const diffKey = "diff-signing-key-0123456789-abcdefghijklmnop"

func newDiffFixture(tb testing.TB) *diffFixture {
	tb.Helper()
	now := time.Unix(1_800_000_000, 123_000_000)
	known := func(id string) bool { return id == "wx0123456789abcdef" || id == "wx1111111111111111" }
	hk, err := NewKey(HS256, []byte(diffKey))
	if err != nil {
		tb.Fatal(err)
	}
	priv := ed25519.NewKeyFromSeed([]byte("caddy-wechat diff ed25519 seed!!"))
	ek := &Key{}
	*ek = *mustEdKey(tb, priv)
	esPEM, err := GenerateKey(ES256)
	if err != nil {
		tb.Fatal(err)
	}
	esk, err := NewKey(ES256, esPEM)
	if err != nil {
		tb.Fatal(err)
	}
	hs, _ := NewKeySet("caddy-wechat", hk)
	ed, _ := NewKeySet("caddy-wechat", ek)
	es, _ := NewKeySet("caddy-wechat", esk)
	clock := func() time.Time { return now }
	fx := &diffFixture{hs: hs, ed: ed, es: es, hsV: newVerifier(hs, known, clock), edV: newVerifier(ed, known, clock), esV: newVerifier(es, known, clock), edPriv: priv, now: now, byName: map[string]string{}}
	mint := func(ks *KeySet, s Session, at time.Time, ttl time.Duration) string {
		tok, _, err := ks.Mint(s, at, ttl)
		if err != nil {
			tb.Fatal(err)
		}
		return tok
	}
	fx.byName["A"] = mint(hs, Session{AppID: "wx0123456789abcdef", OpenID: "oDiffAlice", UnionID: "uDiffAlice", SessionKey: "tiihtNczf5v6AKRyjwEUhQ=="}, now, time.Hour)
	fx.byName["B"] = mint(hs, Session{AppID: "wx1111111111111111", OpenID: "oDiffBob"}, now, time.Hour)
	fx.byName["E"] = mint(hs, Session{AppID: "wx0123456789abcdef", OpenID: "oDiffExpired"}, now.Add(-2*time.Hour), time.Hour)
	fx.byName["F"] = mint(hs, Session{AppID: "wx0123456789abcdef", OpenID: "oDiffFuture"}, now.Add(time.Hour), time.Hour)
	fx.byName["D"] = mint(ed, Session{AppID: "wx0123456789abcdef", OpenID: "oDiffDora", SessionKey: "o0q0otL8aEzpcZL/FT9WsQ=="}, now, time.Hour)
	fx.byName["G"] = mint(es, Session{AppID: "wx0123456789abcdef", OpenID: "oDiffGwen", SessionKey: "o0q0otL8aEzpcZL/FT9WsQ=="}, now, time.Hour)
	var pairs []string
	for n, t := range fx.byName {
		pairs = append(pairs, "{"+n+"}", t)
	}
	fx.expandRepl = strings.NewReplacer(pairs...)
	return fx
}

func mustEdKey(tb testing.TB, priv ed25519.PrivateKey) *Key {
	tb.Helper()
	// The PEM round trip is NewKey's input.
	pemKey := ed25519PEM(tb, priv)
	k, err := NewKey(EdDSA, pemKey)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// sign makes a token of ours (our header, a valid signature) around an
// arbitrary payload, so that the claims parser sees arbitrary claims.
func (fx *diffFixture) sign(payload []byte, eddsa bool) string {
	k := fx.hs.Current()
	if eddsa {
		k = fx.ed.Current()
	}
	signed := k.header + "." + base64.RawURLEncoding.EncodeToString(payload)
	var sig []byte
	if eddsa {
		sig = ed25519.Sign(fx.edPriv, []byte(signed))
	} else {
		m := hmac.New(sha256.New, []byte(diffKey))
		m.Write([]byte(signed))
		sig = m.Sum(nil)
	}
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// agree fails t unless the fast path, where it decides, says what the
// full parse says.
func agree(t *testing.T, v *Verifier, tok string) {
	t.Helper()
	if len(tok) > MaxBytes {
		return
	}
	fast, ferr, decided := v.fastVerify(tok, v.now())
	full, err := v.verifyFull(tok)
	if !decided {
		return
	}
	if (ferr == nil) != (err == nil) {
		t.Fatalf("fast path: %v, full parse: %v, for %q", ferr, err, tok)
	}
	if ferr != nil {
		return
	}
	if fast.OpenID != full.OpenID || fast.UnionID != full.UnionID || fast.AppID != full.AppID || fast.ID != full.ID ||
		fast.SID != full.SID || !fast.AuthTime.Equal(full.AuthTime) ||
		fast.sealedKey != full.sealedKey || fast.keyID != full.keyID ||
		!fast.IssuedAt.Equal(full.IssuedAt) || !fast.ExpiresAt.Equal(full.ExpiresAt) ||
		fast.ReplOpenID != full.ReplOpenID || fast.ReplUnionID != full.ReplUnionID || fast.ReplAppID != full.ReplAppID {
		t.Fatalf("identities differ:\nfast %+v\nfull %+v", fast, full)
	}
}

// FuzzFastPathToken: for arbitrary strings and mutations of valid tokens,
// the fast path agrees with golang-jwt's strict parse on accept or
// refuse, and on the claims, wherever it decides.
func FuzzFastPathToken(f *testing.F) {
	fx := newDiffFixture(f)
	for _, s := range []string{"{A}", "{B}", "{E}", "{F}", "{D}", "{G}", "{A}x", "x{A}", "{A}.", "{A}={A}", "{D}{A}", "{G}A", "", "..", "a.b.c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		tok := fx.expandRepl.Replace(in)
		agree(t, fx.hsV, tok)
		agree(t, fx.edV, tok)
		agree(t, fx.esV, tok)
	})
}

// FuzzFastPathClaims: arbitrary claims under our header and a valid
// signature, so that the fast path's JSON parser meets everything.
func FuzzFastPathClaims(f *testing.F) {
	fx := newDiffFixture(f)
	for _, s := range []string{
		`{"iss":"caddy-wechat","sub":"o1","aud":"wx0123456789abcdef","iat":1800000000,"exp":1800003600,"jti":"j"}`,
		`{"iss":"caddy-wechat","sub":"o1","aud":"wx0123456789abcdef","iat":1800000000,"exp":1800003600,"jti":"j","unionid":"u","sk":"k.x"}`,
		`{"iss":"caddy-wechat","sub":"o1","aud":"wx0123456789abcdef","iat":1800000000,"exp":1800003600,"jti":"j","sid":"s","auth_time":1799990000}`,
		`{"iss":"caddy-wechat","sub":"o1","aud":"wx0123456789abcdef","iat":1800000000,"exp":1800003600,"jti":"j","sid":"","auth_time":"1"}`,
		`{"iss":"caddy-wechat","sub":"o1","aud":"wx0123456789abcdef","iat":1800000000,"exp":1800003600,"nbf":1800000003,"jti":"j"}`,
		`{"iss":"caddy-wechat","sub":"o1","aud":"wx0123456789abcdef","iat":1800000000,"exp":1800000004,"jti":"j"}`,
		`{"iss":"caddy-wechat","sub":"o1","aud":"wx0123456789abcdef","iat":1800000006,"exp":1800003600}`,
		`{"iss":"caddy-wechat","sub":"o1","sub":"o2","aud":"wx0123456789abcdef","iat":1800000000,"exp":1800003600}`,
		`{"iss":"caddy-wechat","sub":"o\u0031","aud":"wx0123456789abcdef","iat":1800000000,"exp":1800003600}`,
		`{"iss":"caddy-wechat","sub":"o1","aud":"wx0123456789abcdef","iat":1800000000,"exp":"1800003600"}`,
		`{"iss":"caddy-wechat","sub":"o1","aud":"wx0123456789abcdef","iat":1800000000,"exp":1.8000036e9}`,
		`{"iss":"caddy-wechat","sub":"o1","aud":"wx0123456789abcdef","iat":01800000000,"exp":1800003600}`,
		`{"iss":"caddy-wechat","sub":"o1","aud":["wx0123456789abcdef"],"iat":1800000000,"exp":1800003600}`,
		`{"iss":"caddy-wechat","sub":"o1","aud":"wx0123456789abcdef","iat":1800000000,"exp":1800003600,"x":1}`,
		`{"ISS":"caddy-wechat","sub":"o1","aud":"wx0123456789abcdef","iat":1800000000,"exp":1800003600}`,
		`{"iss":"caddy-wechat","sub":"","aud":"wx0123456789abcdef","iat":1800000000,"exp":1800003600}`,
		`{"iss":"caddy-wechat","sub":"o1","aud":"wxffffffffffffffff","iat":1800000000,"exp":1800003600}`,
		`{"iss":"caddy-wechat","sub":"o1","aud":"wx0123456789abcdef","iat":-1,"exp":1800003600}`,
		`{"iss":"caddy-wechat","sub":"o1","aud":"wx0123456789abcdef","iat":1800000000,"exp":1800003600,"unionid":null}`,
		`{"iss":"caddy-wechat","sub":"\xff","aud":"wx0123456789abcdef","iat":1800000000,"exp":1800003600}`,
		` {"iss":"caddy-wechat","sub":"o1","aud":"wx0123456789abcdef","iat":1800000000,"exp":1800003600}`,
		`{}`, `[]`, `null`, ``, `{"iss":"caddy-wechat"`,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, payload []byte, eddsa bool) {
		if len(payload) > 2*maxFastPayload {
			return
		}
		v := fx.hsV
		if eddsa {
			v = fx.edV
		}
		agree(t, v, fx.sign(payload, eddsa))
	})
}

// TestFastPathDecides: the tokens this package mints are decided by the
// fast path, accepted, with the same identity as the full parse.
func TestFastPathDecides(t *testing.T) {
	fx := newDiffFixture(t)
	for _, name := range []string{"A", "B", "D", "G"} {
		v := fx.hsV
		switch name {
		case "D":
			v = fx.edV
		case "G":
			v = fx.esV
		}
		tok := fx.byName[name]
		if _, err, decided := v.fastVerify(tok, fx.now); !decided || err != nil {
			t.Fatalf("%s: decided %v, %v", name, decided, err)
		}
		agree(t, v, tok)
	}
	// A bad signature under our header is refused on the spot.
	tok := fx.byName["A"]
	bad := tok[:len(tok)-2] + "AA"
	if _, err, decided := fx.hsV.fastVerify(bad, fx.now); !decided || err == nil {
		t.Fatalf("bad signature: decided %v, %v", decided, err)
	}
}

func ed25519PEM(tb testing.TB, priv ed25519.PrivateKey) []byte {
	tb.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		tb.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}
