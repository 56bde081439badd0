package testenv

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/caddy-wechat/caddy-wechat/wechat"
)

// The official open data sample (WeChat's documentation and demo): its
// app, session_key, user and data.
const (
	SampleAppID      = "wx4f4bc4dec97d474b"
	SampleSecret     = "s3cr3t-sample-app-secret-555555555"
	SampleSessionKey = "tiihtNczf5v6AKRyjwEUhQ=="
	SampleOpenID     = "oGZUI0egBJY1zhBYw2KhdUfwVJJE"
	SampleIV         = "r7BXXKkLb8qrSNn05n0qiA=="
	SampleData       = "CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnxIMXFufNstNGTyaGS9uT5geRa0W4oTOb1WT7fJlAC+oNPdbB+3hVbJSRgv+4lGOETKUQz6OYStslQ142dNCuabNPGBzlooOmB231qMM85d2/fV6ChevvXvQP8Hkue1poOFtnEtpyxVLW1zAo6/1Xx1COxFvrc2d7UL/lmHInNlxuacJXwu0fjpXfz/YqYzBIBzD6WUfTIF9GRHpOn/Hz7saL8xz+W//FRAUid1OksQaQx4CMs8LOddcQhULW4ucetDf96JcR3g0gfRK4PC7E/r7Z6xNrXd2UIeorGj5Ef7b1pJAYB6Y5anaHqZ9J6nKEBvB4DnNLIVWSgARns/8wR2SiRS7MNACwTyrGvt9ts8p12PKFdlqYTopNHR1Vf7XjfhQlVsAJdNiKdYmYVoKlaRv85IfVunYzO0IKXsyl7JCUjCpoG20f0a04COwfneQAGGwd5oa+T8yO5hzuyDb/XcxxmK01EpqOyuxINew=="
)

// JSONBody marshals v for Do.
func JSONBody(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// session_key is sk, with the watermark naming wmApp.
func EncryptFor(t *testing.T, sk, wmApp string, data map[string]any) (string, string) {
	t.Helper()
	d := map[string]any{}
	for k, v := range data {
		d[k] = v
	}
	d["watermark"] = map[string]any{"appid": wmApp, "timestamp": 1700000000}
	plain, _ := json.Marshal(d)
	iv := make([]byte, 16)
	_, _ = rand.Read(iv)
	enc, err := wechat.EncryptData(sk, plain, iv)
	if err != nil {
		t.Fatal(err)
	}
	return enc, base64.StdEncoding.EncodeToString(iv)
}
