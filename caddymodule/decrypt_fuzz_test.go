package caddymodule

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzDecryptRequest feeds arbitrary bodies through the decrypt path with
// the official sample's key: whatever arrives, the answer is a 400 or a
// 422 that never names the key, or a JSON object; never a panic or a 5xx.
func FuzzDecryptRequest(f *testing.F) {
	for _, s := range []string{
		`{"encryptedData":"` + sampleData + `","iv":"` + sampleIV + `"}`,
		`{"encryptedData":"` + sampleData[:64] + `","iv":"` + sampleIV + `"}`,
		`{"encryptedData":"` + strings.ReplaceAll(sampleData, "+", " ") + `","iv":"` + sampleIV + `"}`,
		`{"encryptedData":"AAAAAAAAAAAAAAAAAAAAAA==","iv":"AAAAAAAAAAA="}`,
		`{"rawData":"{\"a\":1}","signature":"0123456789abcdef0123456789abcdef01234567"}`,
		`{"rawData":"{}","signature":"zz","encryptedData":"","iv":""}`,
		`{"encryptedData":null,"iv":1}`,
		`[]`, `null`, ``, `{`,
	} {
		f.Add([]byte(s))
	}
	d := new(Decrypt)
	f.Fuzz(func(t *testing.T, body []byte) {
		req, aerr := parseDecryptRequest(body)
		if aerr != nil {
			if aerr.Status != 400 || aerr.Code != "invalid_request" {
				t.Fatalf("parse: %+v", aerr)
			}
			return
		}
		out, aerr := d.open(req, sampleSessionKey, &Identity{AppID: sampleAppID, OpenID: sampleOpenID})
		if aerr != nil {
			if (aerr.Status != 400 && aerr.Status != 422) || strings.Contains(aerr.Message, sampleSessionKey) {
				t.Fatalf("open: %+v", aerr)
			}
			return
		}
		var v map[string]any
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatalf("opened data is not a JSON object: %q", out)
		}
	})
}
