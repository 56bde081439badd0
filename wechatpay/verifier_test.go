package wechatpay

import (
	"bytes"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"
)

var vecNow = time.Unix(vecTimestamp, 0)

// signedHeader signs body with key under serial at ts, as WeChat Pay.
func signedHeader(t *testing.T, key *rsa.PrivateKey, serial string, body []byte, ts int64) http.Header {
	t.Helper()
	h := http.Header{}
	nonce, err := NewNonce()
	if err != nil {
		t.Fatal(err)
	}
	if err := SignResponseHeaders(h, key, serial, body, ts, nonce); err != nil {
		t.Fatal(err)
	}
	return h
}

// TestVerifyBothKindsAtOnce: a Verifier holding a PUB_KEY_ID_ public key
// and a platform certificate accepts messages signed under either, and
// refuses a message signed by one key but labelled with the other's id.
func TestVerifyBothKindsAtOnce(t *testing.T) {
	pubKey, certKey := generatedKey(t, 0), generatedKey(t, 1)
	const certSerial = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
	cert := selfSigned(t, certKey, certSerial, vecNow.Add(-time.Hour), vecNow.Add(time.Hour))
	pc, err := NewPlatformCertificate(cert)
	if err != nil {
		t.Fatal(err)
	}
	var v Verifier
	if err := v.AddPublicKey(testPubKeyID, &pubKey.PublicKey); err != nil {
		t.Fatal(err)
	}
	if err := v.SetCertificates([]PlatformCertificate{pc}); err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"prepay_id":"wx201410272009395522657a690389285100"}`)
	if err := v.Verify(signedHeader(t, pubKey, testPubKeyID, body, vecTimestamp), body, vecNow); err != nil {
		t.Errorf("public key: %v", err)
	}
	if err := v.Verify(signedHeader(t, certKey, certSerial, body, vecTimestamp), body, vecNow); err != nil {
		t.Errorf("certificate: %v", err)
	}
	// Wrong serial: the certificate's key, labelled as the public key.
	if r := reasonOf(v.Verify(signedHeader(t, certKey, testPubKeyID, body, vecTimestamp), body, vecNow)); r != ReasonBadSignature {
		t.Errorf("wrong serial: %v", r)
	}
	if r := reasonOf(v.Verify(signedHeader(t, certKey, "ABCDEF0123456789", body, vecTimestamp), body, vecNow)); r != ReasonUnknownSerial {
		t.Errorf("unknown serial: %v", r)
	}
	if got := v.Serials(); len(got) != 2 || got[0] != certSerial || got[1] != testPubKeyID {
		t.Errorf("Serials %v", got)
	}
}

// TestVerifyTamperedBody: one changed byte, an added byte, a dropped
// trailing newline, and a re-serialised body (same JSON, other spacing)
// all break the signature of the vector notification.
func TestVerifyTamperedBody(t *testing.T) {
	v := vecVerifier(t)
	body := []byte(vecNotifyBody)
	if err := v.Verify(vecNotifyHeader(), body, vecNow); err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(body)
	flipped[10] ^= 1
	var indented bytes.Buffer
	if err := json.Indent(&indented, body, "", " "); err != nil {
		t.Fatal(err)
	}
	var compact bytes.Buffer
	_ = json.Compact(&compact, indented.Bytes())
	spaced := bytes.ReplaceAll(body, []byte(`","`), []byte(`", "`))
	var reenc map[string]any
	_ = json.Unmarshal(body, &reenc)
	remarshalled, _ := json.Marshal(reenc) // sorted keys: same data, other bytes
	for name, b := range map[string][]byte{
		"flipped byte":   flipped,
		"trailing space": append(bytes.Clone(body), ' '),
		"newline":        append(bytes.Clone(body), '\n'),
		"indented":       indented.Bytes(),
		"spaced":         spaced,
		"re-marshalled":  remarshalled,
		"empty":          nil,
	} {
		if bytes.Equal(b, body) {
			t.Fatalf("%s: not a change", name)
		}
		if r := reasonOf(v.Verify(vecNotifyHeader(), b, vecNow)); r != ReasonBadSignature {
			t.Errorf("%s: reason %v, want bad_signature", name, r)
		}
	}
	// json.Compact of the indented form restores the original bytes, and
	// with them the signature: it is the bytes that are signed.
	if err := v.Verify(vecNotifyHeader(), compact.Bytes(), vecNow); err != nil {
		t.Errorf("compacted body (same bytes): %v", err)
	}
}

// TestVerifyStaleTimestamp: the window is |now - timestamp| < 5 minutes,
// in both directions, with the boundary itself refused.
func TestVerifyStaleTimestamp(t *testing.T) {
	v := vecVerifier(t)
	body := []byte(vecNotifyBody)
	cases := []struct {
		shift time.Duration // now - timestamp
		ok    bool
	}{
		{0, true},
		{4*time.Minute + 59*time.Second, true},
		{-(4*time.Minute + 59*time.Second), true},
		{5 * time.Minute, false},
		{-5 * time.Minute, false},
		{time.Hour, false},
		{-24 * time.Hour, false},
	}
	for _, c := range cases {
		err := v.Verify(vecNotifyHeader(), body, vecNow.Add(c.shift))
		if c.ok && err != nil {
			t.Errorf("now-ts=%v: %v", c.shift, err)
		}
		if !c.ok && reasonOf(err) != ReasonStaleTimestamp {
			t.Errorf("now-ts=%v: %v, want stale_timestamp", c.shift, err)
		}
	}
}

// TestVerifyHeaders: each missing, empty, repeated or malformed header
// gets its own reason and names the header.
func TestVerifyHeaders(t *testing.T) {
	v := vecVerifier(t)
	body := []byte(vecNotifyBody)
	for _, name := range []string{HeaderSerial, HeaderTimestamp, HeaderNonce, HeaderSignature} {
		h := vecNotifyHeader()
		h.Del(name)
		err := v.Verify(h, body, vecNow)
		var ve *VerifyError
		if reasonOf(err) != ReasonMissingHeader || !errors.As(err, &ve) || ve.Header != name {
			t.Errorf("without %s: %v", name, err)
		}
		h = vecNotifyHeader()
		h.Set(name, "")
		if reasonOf(v.Verify(h, body, vecNow)) != ReasonMissingHeader {
			t.Errorf("empty %s accepted", name)
		}
		h = vecNotifyHeader()
		h.Add(name, h.Get(name))
		if reasonOf(v.Verify(h, body, vecNow)) != ReasonMalformedHeader {
			t.Errorf("repeated %s: not malformed", name)
		}
	}
	for _, ts := range []string{"+1624523846", "-1624523846", "1624523846.0", "1624523846 ", "0x60d44846", "1624523846000000"} {
		h := vecNotifyHeader()
		h.Set(HeaderTimestamp, ts)
		if r := reasonOf(v.Verify(h, body, vecNow)); r != ReasonMalformedHeader {
			t.Errorf("timestamp %q: %v", ts, r)
		}
	}
	h := vecNotifyHeader()
	h.Set(HeaderSerial, string(bytes.Repeat([]byte("A"), 500)))
	if r := reasonOf(v.Verify(h, body, vecNow)); r != ReasonMalformedHeader {
		t.Errorf("500-byte serial: %v", r)
	}
	h = vecNotifyHeader()
	h.Set(HeaderSignature, vecNotifySignature+vecNotifySignature)
	if r := reasonOf(v.Verify(h, body, vecNow)); r != ReasonBadSignature {
		t.Errorf("doubled signature: %v", r)
	}
	var nilV *Verifier
	if r := reasonOf(nilV.Verify(vecNotifyHeader(), body, vecNow)); r != ReasonUnknownSerial {
		t.Errorf("nil verifier: %v", r)
	}
}

// TestVerifierReplaceConcurrently: verifications running while the
// certificate set is swapped see the old set or the new one, never a
// torn one: a key present in both sets always verifies (run with -race).
func TestVerifierReplaceConcurrently(t *testing.T) {
	stable := testPlatformCert(t, "cert_D7CE59D1F522D701.pem")
	other := testPlatformCert(t, "cert_F5765756002FDD77.pem")
	var v Verifier
	if err := v.SetCertificates([]PlatformCertificate{stable}); err != nil {
		t.Fatal(err)
	}
	body := []byte(vecNotifyBody)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sets := [][]PlatformCertificate{{stable}, {other, stable}, {stable, other}}
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := v.SetCertificates(sets[i%len(sets)]); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	errs := make(chan error, 4)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				if err := v.Verify(vecNotifyHeader(), body, vecNow); err != nil {
					errs <- err
					return
				}
				_ = v.Serials()
				_ = v.Certificates()
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestSetCertificatesRefusals: a duplicate serial or an entry without a
// key refuses the whole set and leaves the old one in place; public key
// ids must carry their prefix.
func TestSetCertificatesRefusals(t *testing.T) {
	pc := testPlatformCert(t, "cert_D7CE59D1F522D701.pem")
	var v Verifier
	if err := v.SetCertificates([]PlatformCertificate{pc}); err != nil {
		t.Fatal(err)
	}
	if err := v.SetCertificates([]PlatformCertificate{pc, pc}); err == nil {
		t.Error("duplicate serial accepted")
	}
	if err := v.SetCertificates([]PlatformCertificate{{Serial: "AB"}}); err == nil {
		t.Error("certificate without key accepted")
	}
	lower := pc
	lower.Serial = "d7ce59d1f522d701"
	if err := v.SetCertificates([]PlatformCertificate{lower}); err == nil {
		t.Error("lowercase serial accepted")
	}
	if _, ok := v.Lookup(testNotifyCert); !ok {
		t.Error("refused set replaced the old one")
	}
	pub := &testKey(t).PublicKey
	for _, id := range []string{"", "PUB_KEY_ID_", "F5765756002FDD77", "pub_key_id_01", "PUB_KEY_ID_01\n"} {
		if err := v.AddPublicKey(id, pub); err == nil {
			t.Errorf("public key id %q accepted", id)
		}
	}
	if err := v.AddPublicKey(testPubKeyID, nil); err == nil {
		t.Error("nil public key accepted")
	}
	if err := v.SetCertificates(nil); err != nil || len(v.Certificates()) != 0 {
		t.Errorf("empty set: %v", err)
	}
}

// TestCheckTimestampBoundaries exercises checkTimestamp directly at
// the second.
func TestCheckTimestampBoundaries(t *testing.T) {
	now := time.Unix(1700000000, 0)
	for d, want := range map[int64]Reason{0: 0, 299: 0, -299: 0, 300: ReasonStaleTimestamp, -300: ReasonStaleTimestamp} {
		if got := checkTimestamp(strconv.FormatInt(1700000000-d, 10), now); got != want {
			t.Errorf("now-ts=%ds: %v, want %v", d, got, want)
		}
	}
}
