package userdata

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddy-wechat/caddy-wechat/internal/token"
)

// The official open data sample (WeChat's documentation and demo).
const (
	sampleAppID      = "wx4f4bc4dec97d474b"
	sampleOpenID     = "oGZUI0egBJY1zhBYw2KhdUfwVJJE"
	sampleSessionKey = "tiihtNczf5v6AKRyjwEUhQ=="
	sampleIV         = "r7BXXKkLb8qrSNn05n0qiA=="
	sampleData       = "CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnxIMXFufNstNGTyaGS9uT5geRa0W4oTOb1WT7fJlAC+oNPdbB+3hVbJSRgv+4lGOETKUQz6OYStslQ142dNCuabNPGBzlooOmB231qMM85d2/fV6ChevvXvQP8Hkue1poOFtnEtpyxVLW1zAo6/1Xx1COxFvrc2d7UL/lmHInNlxuacJXwu0fjpXfz/YqYzBIBzD6WUfTIF9GRHpOn/Hz7saL8xz+W//FRAUid1OksQaQx4CMs8LOddcQhULW4ucetDf96JcR3g0gfRK4PC7E/r7Z6xNrXd2UIeorGj5Ef7b1pJAYB6Y5anaHqZ9J6nKEBvB4DnNLIVWSgARns/8wR2SiRS7MNACwTyrGvt9ts8p12PKFdlqYTopNHR1Vf7XjfhQlVsAJdNiKdYmYVoKlaRv85IfVunYzO0IKXsyl7JCUjCpoG20f0a04COwfneQAGGwd5oa+T8yO5hzuyDb/XcxxmK01EpqOyuxINew=="
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
		out, aerr := d.open(req, sampleSessionKey, &token.Identity{AppID: sampleAppID, OpenID: sampleOpenID})
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
