package wechat

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// The official open data sample from WeChat's documentation and demo.
const (
	sampleAppID      = "wx4f4bc4dec97d474b"
	sampleSessionKey = "tiihtNczf5v6AKRyjwEUhQ=="
	sampleIV         = "r7BXXKkLb8qrSNn05n0qiA=="
	sampleData       = "CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnxIMXFufNstNGTyaGS9uT5geRa0W4oTOb1WT7fJlAC+oNPdbB+3hVbJSRgv+4lGOETKUQz6OYStslQ142dNCuabNPGBzlooOmB231qMM85d2/fV6ChevvXvQP8Hkue1poOFtnEtpyxVLW1zAo6/1Xx1COxFvrc2d7UL/lmHInNlxuacJXwu0fjpXfz/YqYzBIBzD6WUfTIF9GRHpOn/Hz7saL8xz+W//FRAUid1OksQaQx4CMs8LOddcQhULW4ucetDf96JcR3g0gfRK4PC7E/r7Z6xNrXd2UIeorGj5Ef7b1pJAYB6Y5anaHqZ9J6nKEBvB4DnNLIVWSgARns/8wR2SiRS7MNACwTyrGvt9ts8p12PKFdlqYTopNHR1Vf7XjfhQlVsAJdNiKdYmYVoKlaRv85IfVunYzO0IKXsyl7JCUjCpoG20f0a04COwfneQAGGwd5oa+T8yO5hzuyDb/XcxxmK01EpqOyuxINew=="
)

// The official rawData signature example (open-ability/signature).
const (
	sampleRawData    = `{"nickName":"Band","gender":1,"language":"zh_CN","city":"Guangzhou","province":"Guangdong","country":"CN","avatarUrl":"http://wx.qlogo.cn/mmopen/vi_32/1vZvI39NWFQ9XM4LtQpFrQJ1xlgZxx3w7bQxKARol6503Iuswjjn6nIGBiaycAjAtpujxyzYsrztuuICqIM5ibXQ/0"}`
	sampleRawKey     = "HyVFkGl5F5OQWJZZaNzBBg=="
	sampleRawDataSig = "75e81ceda165f4ffa64f4068af58c64b8f54b88c"
)

func TestDecryptDataOfficialSample(t *testing.T) {
	plain, err := DecryptData(sampleSessionKey, sampleData, sampleIV)
	if err != nil {
		t.Fatal(err)
	}
	if len(plain) != 393 {
		t.Errorf("plaintext is %d bytes, want 393", len(plain))
	}
	var u struct {
		OpenID    string `json:"openId"`
		NickName  string `json:"nickName"`
		UnionID   string `json:"unionId"`
		Watermark struct {
			AppID     string `json:"appid"`
			Timestamp int64  `json:"timestamp"`
		} `json:"watermark"`
	}
	if err := json.Unmarshal(plain, &u); err != nil {
		t.Fatal(err)
	}
	if u.OpenID != "oGZUI0egBJY1zhBYw2KhdUfwVJJE" || u.UnionID != "ocMvos6NjeKLIBqg5Mr9QjxrP1FA" || u.NickName != "Band" {
		t.Errorf("user = %+v", u)
	}
	if u.Watermark.AppID != sampleAppID || u.Watermark.Timestamp != 1477314187 {
		t.Errorf("watermark = %+v", u.Watermark)
	}
	if err := CheckWatermark(plain, sampleAppID); err != nil {
		t.Errorf("CheckWatermark: %v", err)
	}
	// The reference says the sample carries 7 bytes of padding 0x07.
	raw := rawCBC(t, false, sampleSessionKey, sampleIV, mustB64(t, sampleData))
	if len(raw) != 400 || string(raw[393:]) != strings.Repeat("\x07", 7) {
		t.Errorf("padding = %x", raw[393:])
	}
}

func TestCheckWatermark(t *testing.T) {
	plain, err := DecryptData(sampleSessionKey, sampleData, sampleIV)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		plain, appID string
	}{
		{string(plain), "wx0000000000000000"},
		{string(plain), ""},
		{string(plain), strings.ToUpper(sampleAppID)},
		{`{"watermark":{"appid":""}}`, ""},
		{`{"openId":"o"}`, sampleAppID},
		{`{"watermark":"wx4f4bc4dec97d474b"}`, sampleAppID},
		{`not json`, sampleAppID},
	} {
		if err := CheckWatermark([]byte(tc.plain), tc.appID); !errors.Is(err, ErrWatermark) {
			t.Errorf("CheckWatermark(%.40q, %q) = %v, want ErrWatermark", tc.plain, tc.appID, err)
		}
	}
}

func TestDecryptDataRejectsMalformedInput(t *testing.T) {
	data := mustB64(t, sampleData)
	b64 := base64.StdEncoding.EncodeToString
	for _, tc := range []struct {
		name, key, data, iv string
		plusAsSpace         bool
	}{
		{"8-byte iv", sampleSessionKey, sampleData, b64(make([]byte, 8)), false},
		{"17-byte iv", sampleSessionKey, sampleData, b64(make([]byte, 17)), false},
		{"8-byte key", b64(make([]byte, 8)), sampleData, sampleIV, false},
		{"32-byte key", b64(make([]byte, 32)), sampleData, sampleIV, false},
		{"empty key", "", sampleData, sampleIV, false},
		{"empty iv", sampleSessionKey, sampleData, "", false},
		{"empty data", sampleSessionKey, "", sampleIV, false},
		{"17-byte data", sampleSessionKey, b64(data[:17]), sampleIV, false},
		{"15-byte data", sampleSessionKey, b64(data[:15]), sampleIV, false},
		{"+ turned into space in data", sampleSessionKey, strings.ReplaceAll(sampleData, "+", " "), sampleIV, true},
		{"+ turned into space in key", "tiihtNczf5v6AKRyjwEUhQ== ", sampleData, sampleIV, true},
		{"url-safe alphabet", sampleSessionKey, strings.NewReplacer("+", "-", "/", "_").Replace(sampleData), sampleIV, false},
		{"not base64", sampleSessionKey, "!!!!not*base64!!", sampleIV, false},
		{"newline inside", sampleSessionKey, sampleData[:64] + "\n" + sampleData[64:], sampleIV, false},
		{"missing padding", "tiihtNczf5v6AKRyjwEUhQ", sampleData, sampleIV, false},
		{"truncated base64 text", sampleSessionKey, sampleData[:len(sampleData)-3], sampleIV, false},
		{"non-canonical trailing bits", "tiihtNczf5v6AKRyjwEUhR==", sampleData, sampleIV, false},
		{"non-ascii", sampleSessionKey, "é" + sampleData, sampleIV, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plain, err := DecryptData(tc.key, tc.data, tc.iv)
			if plain != nil || !errors.Is(err, ErrBadInput) {
				t.Fatalf("got %q, %v; want ErrBadInput", plain, err)
			}
			if errors.Is(err, ErrPlusAsSpace) != tc.plusAsSpace {
				t.Errorf("errors.Is(err, ErrPlusAsSpace) = %v: %v", !tc.plusAsSpace, err)
			}
			if errors.Is(err, ErrNotOpened) {
				t.Errorf("malformed input reported as ErrNotOpened: %v", err)
			}
			assertNoLeak(t, err, sampleSessionKey, strings.TrimRight(tc.key, "= "), tc.data[:min(len(tc.data), 24)])
		})
	}
}

func TestDecryptDataDoesNotOpen(t *testing.T) {
	data := mustB64(t, sampleData)
	b64 := base64.StdEncoding.EncodeToString
	key := sampleSessionKey
	iv := mustB64(t, sampleIV)
	for _, tc := range []struct {
		name, key, data, iv string
	}{
		{"wrong key", "o0q0otL8aEzpcZL/FT9WsQ==", sampleData, sampleIV},
		{"truncated ciphertext", key, b64(data[:len(data)-16]), sampleIV},
		{"first block only", key, b64(data[:16]), sampleIV},
		{"pad byte 0", key, b64(rawCBC(t, true, key, sampleIV, []byte(`{"a":1}`+strings.Repeat("\x00", 9)))), sampleIV},
		{"pad byte 17", key, b64(rawCBC(t, true, key, sampleIV, []byte(`{"a":1}       `+"\x11\x11"))), sampleIV},
		{"pad byte 255", key, b64(rawCBC(t, true, key, sampleIV, []byte(`{"a":1}       `+"\xff\xff"))), sampleIV},
		{"inconsistent pad bytes", key, b64(rawCBC(t, true, key, sampleIV, []byte(`{"a":1}`+"\x09\x09\x09\x09\x08\x09\x09\x09\x09"))), sampleIV},
		{"first pad byte wrong", key, b64(rawCBC(t, true, key, sampleIV, []byte(`{"a":1}`+"\x08\x09\x09\x09\x09\x09\x09\x09\x09"))), sampleIV},
		{"not JSON", key, mustEncrypt(t, key, []byte("hello, world"), iv), sampleIV},
		{"JSON array", key, mustEncrypt(t, key, []byte(`[{"a":1}]`), iv), sampleIV},
		{"truncated JSON", key, mustEncrypt(t, key, []byte(`{"a":1`), iv), sampleIV},
		{"empty plaintext", key, mustEncrypt(t, key, nil, iv), sampleIV},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plain, err := DecryptData(tc.key, tc.data, tc.iv)
			if plain != nil || !errors.Is(err, ErrNotOpened) || errors.Is(err, ErrBadInput) {
				t.Fatalf("got %q, %v; want ErrNotOpened", plain, err)
			}
		})
	}
	// Positive controls for the hand-made padding above.
	for _, pt := range []string{`{"a":1}` + strings.Repeat("\x09", 9), `{"abcdefghij":1}` + strings.Repeat("\x10", 16)} {
		got, err := DecryptData(key, b64(rawCBC(t, true, key, sampleIV, []byte(pt))), sampleIV)
		if err != nil || string(got) != strings.TrimRight(pt, "\x09\x10") {
			t.Errorf("control %q: got %q, %v", pt, got, err)
		}
	}
}

func TestEncryptDecryptRoundTrip(t *testing.T) {
	iv := []byte("0123456789abcdef")
	for _, plain := range []string{`{}`, `{"abcdefghij":1}`, `{"phoneNumber":"+8613800000000","watermark":{"appid":"wx1","timestamp":1}}`, ` {"a":"` + strings.Repeat("é", 100) + `"}`} {
		enc, err := EncryptData(sampleSessionKey, []byte(plain), iv)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(mustB64(t, enc)); n%16 != 0 || n <= len(plain) {
			t.Errorf("ciphertext length %d for %d bytes", n, len(plain))
		}
		got, err := DecryptData(sampleSessionKey, enc, base64.StdEncoding.EncodeToString(iv))
		if err != nil || string(got) != plain {
			t.Errorf("round trip of %q: %q, %v", plain, got, err)
		}
	}
	// Re-encrypting the official plaintext gives the official ciphertext.
	plain, _ := DecryptData(sampleSessionKey, sampleData, sampleIV)
	if enc, err := EncryptData(sampleSessionKey, plain, mustB64(t, sampleIV)); err != nil || enc != sampleData {
		t.Errorf("EncryptData(sample) = %.20q..., %v", enc, err)
	}
	if _, err := EncryptData(sampleSessionKey, []byte(`{}`), iv[:8]); !errors.Is(err, ErrBadInput) {
		t.Errorf("8-byte iv: %v", err)
	}
	if _, err := EncryptData("short", []byte(`{}`), iv); !errors.Is(err, ErrBadInput) {
		t.Errorf("bad key: %v", err)
	}
}

func TestVerifyRawData(t *testing.T) {
	if !VerifyRawData(sampleRawData, sampleRawDataSig, sampleRawKey) {
		t.Fatal("official example does not verify")
	}
	if !VerifyRawData(sampleRawData, strings.ToUpper(sampleRawDataSig), sampleRawKey) {
		t.Error("upper-case hex signature does not verify")
	}
	noKey := sha1.Sum([]byte(sampleRawData))
	for name, args := range map[string][3]string{
		"tampered rawData":       {strings.Replace(sampleRawData, `"gender":1`, `"gender":2`, 1), sampleRawDataSig, sampleRawKey},
		"tampered signature":     {sampleRawData, "75e81ceda165f4ffa64f4068af58c64b8f54b88d", sampleRawKey},
		"other key":              {sampleRawData, sampleRawDataSig, sampleSessionKey},
		"decoded key":            {sampleRawData, sampleRawDataSig, string(mustB64(t, sampleRawKey))},
		"empty signature":        {sampleRawData, "", sampleRawKey},
		"short signature":        {sampleRawData, sampleRawDataSig[:38], sampleRawKey},
		"long signature":         {sampleRawData, sampleRawDataSig + "00", sampleRawKey},
		"not hex":                {sampleRawData, strings.Repeat("zz", 20), sampleRawKey},
		"empty key, keyless sig": {sampleRawData, hex.EncodeToString(noKey[:]), ""},
	} {
		if VerifyRawData(args[0], args[1], args[2]) {
			t.Errorf("%s: verified", name)
		}
	}
}

func mustB64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustEncrypt(t *testing.T, key string, plain, iv []byte) string {
	t.Helper()
	s, err := EncryptData(key, plain, iv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// rawCBC runs AES-128-CBC over whole blocks with no padding handling, to
// build or inspect ciphertexts with hand-made padding.
func rawCBC(t *testing.T, encrypt bool, key, iv string, in []byte) []byte {
	t.Helper()
	block, err := aes.NewCipher(mustB64(t, key))
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, len(in))
	if encrypt {
		cipher.NewCBCEncrypter(block, mustB64(t, iv)).CryptBlocks(out, in)
	} else {
		cipher.NewCBCDecrypter(block, mustB64(t, iv)).CryptBlocks(out, in)
	}
	return out
}

// TestIVBitFlipsRewriteTheFirstBlock documents why decrypted open data is
// not called verified: CBC without a MAC lets whoever holds an
// encryptedData rewrite its first 16 bytes through the IV, and the
// watermark, further in, still checks.
func TestIVBitFlipsRewriteTheFirstBlock(t *testing.T) {
	plain, err := DecryptData(sampleSessionKey, sampleData, sampleIV)
	if err != nil {
		t.Fatal(err)
	}
	iv, _ := base64.StdEncoding.DecodeString(sampleIV)
	// {"openId":"oGZUI0egBJY1… becomes {"vip":1,"x":"oG0egBJY1…: the
	// openId key itself is gone, and the JSON still parses.
	want := []byte(`{"vip":1,"x":"oG`)
	if len(want) != 16 {
		t.Fatal("the forged block must be 16 bytes")
	}
	for i := range 16 {
		iv[i] ^= plain[i] ^ want[i]
	}
	forged, err := DecryptData(sampleSessionKey, sampleData, base64.StdEncoding.EncodeToString(iv))
	if err != nil {
		t.Fatalf("the forged IV did not open: %v", err)
	}
	if !bytes.HasPrefix(forged, want) || !bytes.Equal(forged[16:], plain[16:]) {
		t.Fatalf("forged plaintext %q", forged[:40])
	}
	if CheckWatermark(forged, sampleAppID) != nil {
		t.Fatal("expected the watermark to survive the forgery")
	}
}
