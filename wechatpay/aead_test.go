package wechatpay

import (
	"encoding/base64"
	"errors"
	"testing"
)

const testAPIv3Key = "0123456789abcdefABCDEF0123456789" // 32 bytes, as real keys are

// TestResourceRoundTrip: EncryptResource output opens with
// DecryptResource under the same 32-byte key, with a fresh 12-character
// nonce each time.
func TestResourceRoundTrip(t *testing.T) {
	plain := []byte(`{"out_trade_no":"ORDER20240101000001","trade_state":"SUCCESS"}`)
	r1, err := EncryptResource([]byte(testAPIv3Key), plain, "transaction", "transaction")
	if err != nil {
		t.Fatal(err)
	}
	r2, _ := EncryptResource([]byte(testAPIv3Key), plain, "transaction", "transaction")
	if len(r1.Nonce) != 12 || r1.Nonce == r2.Nonce || r1.Ciphertext == r2.Ciphertext {
		t.Errorf("nonces %q %q", r1.Nonce, r2.Nonce)
	}
	got, err := DecryptResource([]byte(testAPIv3Key), r1)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(plain) {
		t.Fatalf("round trip gave %q", got)
	}
}

// TestDecryptResourceRefusals: a wrong algorithm name, a truncated or
// altered ciphertext, a changed AAD or nonce, and another key all fail
// as *DecryptError, without the key or the plaintext in the text.
func TestDecryptResourceRefusals(t *testing.T) {
	key := []byte(testAPIv3Key)
	plain := []byte(`{"secret_field":"PLAINTEXT-MARKER"}`)
	r, err := EncryptResource(key, plain, "transaction", "transaction")
	if err != nil {
		t.Fatal(err)
	}
	ct, _ := base64.StdEncoding.DecodeString(r.Ciphertext)
	with := func(f func(*Resource)) Resource { c := r; f(&c); return c }
	enc := base64.StdEncoding.EncodeToString
	flipped := append([]byte{}, ct...)
	flipped[0] ^= 0x80
	cases := map[string]struct {
		key []byte
		r   Resource
	}{
		"algorithm AEAD_AES_128_GCM": {key, with(func(c *Resource) { c.Algorithm = "AEAD_AES_128_GCM" })},
		"algorithm lowercase":        {key, with(func(c *Resource) { c.Algorithm = "aead_aes_256_gcm" })},
		"algorithm empty":            {key, with(func(c *Resource) { c.Algorithm = "" })},
		"algorithm with newline":     {key, with(func(c *Resource) { c.Algorithm = "AEAD_AES_256_GCM\n" })},
		"truncated by one byte":      {key, with(func(c *Resource) { c.Ciphertext = enc(ct[:len(ct)-1]) })},
		"tag only":                   {key, with(func(c *Resource) { c.Ciphertext = enc(ct[len(ct)-16:]) })},
		"shorter than the tag":       {key, with(func(c *Resource) { c.Ciphertext = enc(ct[:15]) })},
		"empty ciphertext":           {key, with(func(c *Resource) { c.Ciphertext = "" })},
		"flipped bit":                {key, with(func(c *Resource) { c.Ciphertext = enc(flipped) })},
		"URL-safe base64":            {key, with(func(c *Resource) { c.Ciphertext = base64.URLEncoding.EncodeToString(ct) + "-_" })},
		"other AAD":                  {key, with(func(c *Resource) { c.AssociatedData = "refund" })},
		"other nonce":                {key, with(func(c *Resource) { c.Nonce = "000000000000" })},
		"11-byte nonce":              {key, with(func(c *Resource) { c.Nonce = c.Nonce[:11] })},
		"13-byte nonce":              {key, with(func(c *Resource) { c.Nonce += "A" })},
		"other 32-byte key":          {[]byte("ffffffffffffffffffffffffffffffff"), r},
		"31-byte key":                {key[:31], r},
		"empty key":                  {nil, r},
	}
	for name, c := range cases {
		got, err := DecryptResource(c.key, c.r)
		var de *DecryptError
		if !errors.As(err, &de) || got != nil {
			t.Errorf("%s: (%q, %v), want *DecryptError", name, got, err)
			continue
		}
		assertNoLeak(t, err, testAPIv3Key, "PLAINTEXT-MARKER", r.Nonce)
	}
}
