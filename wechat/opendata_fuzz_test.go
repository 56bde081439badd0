package wechat

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// FuzzDecryptData checks that no input panics, that every failure is one
// of the two documented sentinels, and that any success is a JSON object.
func FuzzDecryptData(f *testing.F) {
	f.Add(sampleSessionKey, sampleData, sampleIV)
	f.Add(sampleSessionKey, strings.ReplaceAll(sampleData, "+", " "), sampleIV)
	f.Add(sampleSessionKey, sampleData[:24], "AAAAAAAAAAA=")
	f.Add("o0q0otL8aEzpcZL/FT9WsQ==", sampleData, sampleIV)
	f.Add("", "", "")
	f.Add(sampleSessionKey, "AAAAAAAAAAAAAAAAAAAAAA==", sampleIV)
	f.Fuzz(func(t *testing.T, key, data, iv string) {
		plain, err := DecryptData(key, data, iv)
		if err != nil {
			if plain != nil {
				t.Fatalf("plaintext %q with error %v", plain, err)
			}
			if !errors.Is(err, ErrBadInput) && !errors.Is(err, ErrNotOpened) {
				t.Fatalf("undocumented error %v", err)
			}
			if errors.Is(err, ErrBadInput) == errors.Is(err, ErrNotOpened) {
				t.Fatalf("error is both or neither: %v", err)
			}
			return
		}
		var obj map[string]any
		if !json.Valid(plain) || json.Unmarshal(plain, &obj) != nil {
			t.Fatalf("decrypted to non-object %q", plain)
		}
	})
}

// FuzzVerifyRawData checks that no input panics, that the correct
// signature always verifies under a non-empty key, and that nothing else
// does.
func FuzzVerifyRawData(f *testing.F) {
	f.Add(sampleRawData, sampleRawDataSig, sampleRawKey)
	f.Add(sampleRawData, strings.ToUpper(sampleRawDataSig), sampleRawKey)
	f.Add("", "", "")
	f.Add("{}", "zz", "k")
	f.Fuzz(func(t *testing.T, raw, sig, key string) {
		sum := sha1.Sum([]byte(raw + key))
		want := hex.EncodeToString(sum[:])
		if got := VerifyRawData(raw, want, key); got != (key != "") {
			t.Fatalf("correct signature: VerifyRawData = %v", got)
		}
		if VerifyRawData(raw, sig, key) && (key == "" || !strings.EqualFold(sig, want)) {
			t.Fatalf("signature %q verified, want %q", sig, want)
		}
	})
}
