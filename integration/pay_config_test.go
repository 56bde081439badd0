package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"

	. "github.com/caddy-wechat/caddy-wechat/internal/testenv"
)

// payGlobal is a wechatpay global option around merchant lines.
func payGlobal(merchantLines string) string {
	return "{\n\twechatpay {\n\t\tmerchant 1900000001 {\n" + merchantLines + "\t\t}\n\t}\n}\n:8080 {\n\twechatpay_notify\n}\n"
}

// TestPayConfigErrors: mistakes in the wechatpay option and its
// directives fail caddy adapt, with the line and a hint, when the value is
// literal; and caddy validate when it comes through a placeholder. An
// APIv3 key of 16 or 31 bytes is refused either way, saying it must be
// exactly 32 bytes.
func TestPayConfigErrors(t *testing.T) {
	files := WritePayFiles(t)
	good := map[string]string{
		"private_key": "\t\t\tprivate_key {file." + files.MerchantKey + "}\n",
		"serial_no":   "\t\t\tserial_no " + PayMchSerial + "\n",
		"apiv3_key":   "\t\t\tapiv3_key " + PayAPIv3Key + "\n",
		"public_key":  "\t\t\tpublic_key " + PayPubKeyID + " {file." + files.WeChatPub + "}\n",
	}
	without := func(skip ...string) string {
		var b strings.Builder
		for _, k := range []string{"private_key", "serial_no", "apiv3_key", "public_key"} {
			if !contains(skip, k) {
				b.WriteString(good[k])
			}
		}
		return b.String()
	}
	adaptCases := []struct{ name, cfg, line, want string }{
		{"16-byte APIv3 key", payGlobal(without("apiv3_key") + "\t\t\tapiv3_key 0123456789abcdef\n"), "7", "apiv3_key is 16 bytes; the APIv3 key must be exactly 32 bytes"},
		{"31-byte APIv3 key", payGlobal(without("apiv3_key") + "\t\t\tapiv3_key 0123456789abcdef0123456789abcde\n"), "7", "apiv3_key is 31 bytes; the APIv3 key must be exactly 32 bytes"},
		{"33-byte APIv3 key", payGlobal(without("apiv3_key") + "\t\t\tapiv3_key 0123456789abcdef0123456789abcdef0\n"), "7", "exactly 32 bytes"},
		{"no key mode", payGlobal(without("public_key")), "3", "no WeChat Pay key to verify answers and notifications with; add 'public_key PUB_KEY_ID_…"},
		{"no private key", payGlobal(without("private_key")), "3", "has no private_key"},
		{"no serial", payGlobal(without("serial_no")), "3", "has no serial_no"},
		{"no APIv3 key", payGlobal(without("apiv3_key")), "3", "has no apiv3_key"},
		{"bad serial", payGlobal(without("serial_no") + "\t\t\tserial_no XYZ\n"), "7", "serial_no \"XYZ\" must be the merchant API certificate's serial"},
		{"public key id", payGlobal(without("public_key") + "\t\t\tpublic_key KEY_1 {file.x}\n"), "7", "must start with PUB_KEY_ID_"},
		{"public key without PEM", payGlobal(without("public_key") + "\t\t\tpublic_key " + PayPubKeyID + "\n"), "7", "public_key needs the key's id and its PEM"},
		{"literal PEM that is not a key", payGlobal(without("private_key") + "\t\t\tprivate_key not-a-pem\n"), "7", "private_key: merchant private key: no PEM block found"},
		{"bad appid", payGlobal(without() + "\t\t\tappid wx123\n"), "8", "is not a Mini Program appid"},
		{"notify_url with a query", payGlobal(without() + "\t\t\tnotify_url https://example.com/n?x=1\n"), "8", "notify_url \"https://example.com/n?x=1\" must be an absolute https:// URL"},
		{"unknown merchant subdirective", payGlobal(without() + "\t\t\tapi_v3_key x\n"), "8", "unknown subdirective \"api_v3_key\" in merchant 1900000001"},
		{"given twice", payGlobal(without() + good["serial_no"]), "8", "serial_no is given twice"},
		{"bad mchid", "{\n\twechatpay {\n\t\tmerchant 19x {\n\t\t}\n\t}\n}\n", "3", "mchid \"19x\" must be the merchant id"},
		{"no merchant", "{\n\twechatpay {\n\t\tapi_base https://api.mch.weixin.qq.com\n\t}\n}\n", "4", "wechatpay has no merchant"},
		{"bad api_base", "{\n\twechatpay {\n\t\tapi_base ftp://x\n\t}\n}\n", "3", "api_base \"ftp://x\" must be an http:// or https:// origin"},
		{"unknown wechatpay subdirective", "{\n\twechatpay {\n\t\tmerchants x\n\t}\n}\n", "3", "unknown subdirective \"merchants\" in wechatpay; expected api_base, timeout or merchant"},
		{"duplicate merchant", "{\n\twechatpay {\n\t\tmerchant 1900000001 {\n" + without() + "\t\t}\n\t\tmerchant 1900000001 {\n\t\t}\n\t}\n}\n", "9", "merchant 1900000001 is configured twice"},
		{"api merchant", "{\n}\n:8080 {\n\twechatpay_api {\n\t\tmerchant abc\n\t}\n}\n", "5", "mchid \"abc\" must be the merchant id"},
		{"api subdirective", "{\n}\n:8080 {\n\twechatpay_api {\n\t\tallow 10.0.0.0/8\n\t}\n}\n", "5", "unknown subdirective \"allow\" in wechatpay_api; expected merchant or allow_from"},
		{"notify arguments", "{\n}\n:8080 {\n\twechatpay_notify /pay 1900000001\n}\n", "4", "wrong arguments to wechatpay_notify: expected nothing, or merchant <mchid>"},
		{"notify timeout", "{\n}\n:8080 {\n\twechatpay_notify {\n\t\ttimeout soon\n\t}\n}\n", "5", "timeout: \"soon\" is not a positive duration"},
		{"mock sign_with", "{\n}\n:8080 {\n\twechatpay_mock {\n\t\tsign_with both\n\t}\n}\n", "5", "sign_with \"both\": expected public_key, certificate or alternate"},
	}
	for _, tc := range adaptCases {
		_, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(tc.cfg), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "Caddyfile:"+tc.line) {
			t.Errorf("%s: got %v, want an error at line %s containing %q", tc.name, err, tc.line, tc.want)
		}
	}

	// Through placeholders: caddy validate.
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Setenv("PAY_TEST_KEY16", "0123456789abcdef")
	t.Setenv("PAY_TEST_KEY31", "0123456789abcdef0123456789abcde")
	key31File := write("apiv3_31", "0123456789abcdef0123456789abcde\n") // {file.*} strips the newline
	certFile := write("cert.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
	twoMerchants := "{\n\tadmin off\n\twechatpay {\n\t\tmerchant 1900000001 {\n" + without() + "\t\t}\n\t\tmerchant 1900000002 {\n" + without() + "\t\t}\n\t}\n}\n"
	validateCases := []struct{ name, cfg, want string }{
		{"16-byte APIv3 key from env", payGlobal(without("apiv3_key") + "\t\t\tapiv3_key {env.PAY_TEST_KEY16}\n"), "apiv3_key is 16 bytes; the APIv3 key must be exactly 32 bytes"},
		{"31-byte APIv3 key from env", payGlobal(without("apiv3_key") + "\t\t\tapiv3_key {env.PAY_TEST_KEY31}\n"), "apiv3_key is 31 bytes; the APIv3 key must be exactly 32 bytes"},
		{"31-byte APIv3 key from a file", payGlobal(without("apiv3_key") + "\t\t\tapiv3_key {file." + key31File + "}\n"), "apiv3_key is 31 bytes"},
		{"empty APIv3 key", payGlobal(without("apiv3_key") + "\t\t\tapiv3_key {env.PAY_TEST_UNSET}\n"), "apiv3_key is 0 bytes"},
		{"missing key file", payGlobal(without("private_key") + "\t\t\tprivate_key {file." + filepath.Join(dir, "absent.pem") + "}\n"), "private_key is missing or empty"},
		{"public key file is a certificate", payGlobal(without("public_key") + "\t\t\tpublic_key " + PayPubKeyID + " {file." + certFile + "}\n"), "configure it as a platform certificate instead"},
		{"private key where the public key goes", payGlobal(without("public_key") + "\t\t\tpublic_key " + PayPubKeyID + " {file." + files.MerchantKey + "}\n"), `PEM block is "PRIVATE KEY", want "PUBLIC KEY"`},
		{"several merchants, no merchant on the handler", twoMerchants + ":8080 {\n\twechatpay_notify\n}\n", "wechatpay_notify: 2 merchants are configured; choose one with 'merchant <mchid>'"},
		{"unknown merchant on the handler", twoMerchants + ":8080 {\n\twechatpay_api merchant 1900000003\n}\n", "wechatpay_api: merchant 1900000003 is not configured"},
		{"handler without the app", "{\n\tadmin off\n}\n:8080 {\n\twechatpay_api\n}\n", "the wechatpay global option is missing"},
		{"mock without the app", "{\n\tadmin off\n}\n:8080 {\n\twechatpay_mock\n}\n", "the wechatpay global option is missing"},
	}
	for _, tc := range validateCases {
		out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(tc.cfg), nil)
		if err != nil {
			t.Errorf("%s: adapt failed, but the value is only known after expansion: %v", tc.name, err)
			continue
		}
		var c caddy.Config
		if err := json.Unmarshal(out, &c); err != nil {
			t.Fatal(err)
		}
		err = caddy.Validate(&c)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: validate got %v, want %q", tc.name, err, tc.want)
		}
	}

	// And a good one validates, with nothing downloaded or sent: validate
	// provisions, it does not start.
	wx := NewFakePay(t)
	ok := strings.Replace(payGlobal(without()+"\t\t\tplatform_certificates\n"), "wechatpay {\n", "wechatpay {\n\t\tapi_base "+wx.URL+"\n", 1)
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(ok), nil)
	if err != nil {
		t.Fatal(err)
	}
	var c caddy.Config
	if err := json.Unmarshal(out, &c); err != nil {
		t.Fatal(err)
	}
	if err := caddy.Validate(&c); err != nil {
		t.Fatalf("a good config: %v", err)
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(wx.Received()); n != 0 {
		t.Fatalf("validating sent %d requests to WeChat Pay", n)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
