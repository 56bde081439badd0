package integration

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
)

const udGlobal = "{\n\twechat {\n\t\tapp wx0123456789abcdef {\n\t\t\tsecret s\n\t\t}\n\t}\n}\n"

func adaptCaddyfile(t *testing.T, cfg string) (string, error) {
	t.Helper()
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cfg), nil)
	return string(out), err
}

// TestUserDataDirectiveOrder checks that the handlers need no order line:
// written in any order in a handle block, they run after the gate and
// before reverse_proxy.
func TestUserDataDirectiveOrder(t *testing.T) {
	cfg := udGlobal + `:8080 {
	handle /decrypt {
		reverse_proxy 127.0.0.1:9000
		wechat_decrypt {
			forward
		}
		wechat_auth
	}
	handle /phone {
		wechat_phone
		wechat_auth
	}
	handle /api {
		wechat_api {
			app wx0123456789abcdef
		}
	}
}
`
	out, err := adaptCaddyfile(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	order := func(names ...string) []int {
		var at []int
		for _, n := range names {
			at = append(at, strings.Index(out, `"handler":"`+n+`"`))
		}
		return at
	}
	if at := order("wechat_auth", "wechat_decrypt", "reverse_proxy"); at[0] < 0 || !(at[0] < at[1] && at[1] < at[2]) {
		t.Fatalf("decrypt block order %v in %s", at, out)
	}
	for _, want := range []string{`{"forward":true,"handler":"wechat_decrypt"}`, `"handler":"wechat_phone"`, `"app":"wx0123456789abcdef","handler":"wechat_api"`} {
		if !strings.Contains(out, want) {
			t.Errorf("adapted JSON lacks %s: %s", want, out)
		}
	}
	// The phone block: the gate first.
	phone := out[strings.Index(out, `"/phone"`):]
	if a, p := strings.Index(phone, `"wechat_auth"`), strings.Index(phone, `"wechat_phone"`); a < 0 || a > p {
		t.Fatalf("phone block order: %s", phone)
	}
	var v any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatal(err)
	}
}

func TestUserDataDirectiveErrors(t *testing.T) {
	cases := []struct{ name, site, want string }{
		{"decrypt unknown subdirective", "\twechat_decrypt {\n\t\tforwards\n\t}\n", `unknown subdirective "forwards" in wechat_decrypt; expected forward, at Caddyfile:10`},
		{"decrypt argument", "\twechat_decrypt /x extra\n", "wrong argument count"},
		{"decrypt forward twice", "\twechat_decrypt {\n\t\tforward\n\t\tforward\n\t}\n", "forward is given twice"},
		{"forward with an argument", "\twechat_phone {\n\t\tforward yes\n\t}\n", "wrong argument count"},
		{"phone unknown subdirective", "\twechat_phone {\n\t\tcode x\n\t}\n", `unknown subdirective "code" in wechat_phone; expected forward, at Caddyfile:10`},
		{"api unknown subdirective", "\twechat_api {\n\t\tappid wx0123456789abcdef\n\t}\n", `unknown subdirective "appid" in wechat_api; expected app or allow_from, at Caddyfile:10`},
		{"api allow_from empty", "\twechat_api {\n\t\tallow_from\n\t}\n", "allow_from needs at least one range"},
		{"api allow_from bad", "\twechat_api {\n\t\tallow_from 10.0.0.0/33\n\t}\n", `allow_from "10.0.0.0/33" is not a CIDR`},
		{"api allow_from host", "\twechat_api {\n\t\tallow_from example.com\n\t}\n", `allow_from "example.com" is not a CIDR`},
		{"api bad appid", "\twechat_api {\n\t\tapp wxNOTHEX\n\t}\n", "is not a Mini Program appid"},
		{"api app without value", "\twechat_api {\n\t\tapp\n\t}\n", "wrong argument count"},
		{"api app twice", "\twechat_api {\n\t\tapp wx0123456789abcdef\n\t\tapp wx1111111111111111\n\t}\n", "app is given twice"},
	}
	for _, tc := range cases {
		_, err := adaptCaddyfile(t, udGlobal+":8080 {\n"+tc.site+"}\n")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
	// A placeholder appid is checked at provisioning, not at adapt time.
	if _, err := adaptCaddyfile(t, udGlobal+":8080 {\n\twechat_api {\n\t\tapp {env.WECHAT_APPID}\n\t}\n}\n"); err != nil {
		t.Errorf("placeholder appid: %v", err)
	}
}
