package integration

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/caddy-wechat/caddy-wechat/internal/testenv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddytest"
)

var updateGoldens = flag.Bool("update", false, "rewrite the adapt goldens in testdata/adapt")

// TestAdaptGoldens checks Caddyfile -> JSON for every directive and
// subdirective. Each testdata/adapt/*.caddyfiletest holds a Caddyfile, a
// line of dashes, and the JSON it must adapt to.
func TestAdaptGoldens(t *testing.T) {
	files, _ := filepath.Glob("testdata/adapt/*.caddyfiletest")
	if len(files) == 0 {
		t.Fatal("no adapt goldens found")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			in, want, ok := strings.Cut(string(raw), "\n----------\n")
			if !ok {
				t.Fatalf("%s: no ---------- separator", f)
			}
			if *updateGoldens {
				out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(in), nil)
				if err != nil {
					t.Fatal(err)
				}
				var pretty bytes.Buffer
				_ = json.Indent(&pretty, out, "", "\t")
				_ = os.WriteFile(f, []byte(in+"\n----------\n"+pretty.String()+"\n"), 0o644)
				return
			}
			caddytest.AssertAdapt(t, in, "caddyfile", strings.TrimSuffix(want, "\n"))
		})
	}
}

// TestConfigErrors checks that mistakes fail at adapt time when the value
// is literal, with the line and a hint, and at validate time when it
// arrives through a placeholder.
func TestConfigErrors(t *testing.T) {
	site := "\n:8080 {\n\twechat_auth\n}\n"
	adaptCases := []struct{ name, cfg, line, want string }{
		{"bad appid", "{\n\twechat {\n\t\tapp wxNOTHEX {\n\t\t\tsecret s\n\t\t}\n\t}\n}" + site, "3", "wechat: appid \"wxNOTHEX\" is not a Mini Program appid: it must be 'wx' followed by 16"},
		{"uppercase appid", "{\n\twechat {\n\t\tapp wx0123456789ABCDEF {\n\t\t\tsecret s\n\t\t}\n\t}\n}" + site, "3", "16 lowercase hex digits"},
		{"missing secret", "{\n\twechat {\n\t\tapp wx0123456789abcdef\n\t}\n}" + site, "3", "has no secret; add 'secret {env.WECHAT_SECRET}'"},
		{"empty app block", "{\n\twechat {\n\t\tapp wx0123456789abcdef {\n\t\t}\n\t}\n}" + site, "3", "has no secret"},
		{"unknown global subdirective", "{\n\twechat {\n\t\tapi_bse http://x\n\t}\n}" + site, "3", "unknown subdirective \"api_bse\" in wechat; expected api_base, timeout, max_inflight, app, token, cookie, assertion or store"},
		{"unknown app subdirective", "{\n\twechat {\n\t\tapp wx0123456789abcdef {\n\t\t\tsecrte s\n\t\t}\n\t}\n}" + site, "4", "unknown subdirective \"secrte\""},
		{"unknown token subdirective", "{\n\twechat {\n\t\ttoken {\n\t\t\tkey abc\n\t\t}\n\t}\n}" + site, "4", "unknown subdirective \"key\" in token"},
		{"short signing key", "{\n\twechat {\n\t\ttoken {\n\t\t\tsigning_key tooshort\n\t\t}\n\t}\n}" + site, "4", "signing_key is 8 bytes; HS256 needs 32 bytes or more"},
		{"bad ttl", "{\n\twechat {\n\t\ttoken {\n\t\t\tttl forever\n\t\t}\n\t}\n}" + site, "4", "ttl: \"forever\" is not a positive duration"},
		{"bad api_base", "{\n\twechat {\n\t\tapi_base ftp://x\n\t}\n}" + site, "3", "api_base"},
		{"duplicate app", "{\n\twechat {\n\t\tapp wx0123456789abcdef {\n\t\t\tsecret a\n\t\t}\n\t\tapp wx0123456789abcdef {\n\t\t\tsecret b\n\t\t}\n\t}\n}" + site, "6", "configured twice"},
		{"unknown auth subdirective", "{\n\twechat {\n\t\tapp wx0123456789abcdef {\n\t\t\tsecret a\n\t\t}\n\t}\n}\n:8080 {\n\twechat_auth {\n\t\toptinal\n\t}\n}\n", "10", "unknown subdirective \"optinal\" in wechat_auth; expected optional"},
		{"login argument", "{\n\twechat {\n\t\tapp wx0123456789abcdef {\n\t\t\tsecret a\n\t\t}\n\t}\n}\n:8080 {\n\twechat_login /login extra\n}\n", "9", "wrong argument count"},
	}
	for _, tc := range adaptCases {
		_, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(tc.cfg), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "at Caddyfile:"+tc.line) {
			t.Errorf("%s: got %v, want an error at line %s containing %q", tc.name, err, tc.line, tc.want)
		}
	}

	t.Setenv("WECHAT_TEST_SHORT_KEY", "short")
	t.Setenv("WECHAT_TEST_BAD_APPID", "wx123")
	validateCases := []struct{ name, global, want string }{
		{"secret placeholder empty", "app wx0123456789abcdef {\n secret {env.WECHAT_TEST_UNSET}\n}\ntoken {\n signing_key " + SigningKey + "\n}", "app wx0123456789abcdef has no secret"},
		{"signing key placeholder short", "app wx0123456789abcdef {\n secret x\n}\ntoken {\n signing_key {env.WECHAT_TEST_SHORT_KEY}\n}", "signing_key is 5 bytes; HS256 needs 32"},
		{"appid placeholder bad", "app {env.WECHAT_TEST_BAD_APPID} {\n secret x\n}\ntoken {\n signing_key " + SigningKey + "\n}", "is not a Mini Program appid"},
		{"no app", "token {\n signing_key " + SigningKey + "\n}", "no app configured"},
		{"handler without app", "", ""},
	}
	for _, tc := range validateCases {
		cfg := "{\n\tadmin off\n\twechat {\n" + tc.global + "\n\t}\n}" + site
		if tc.global == "" {
			cfg = "{\n\tadmin off\n}" + site
			tc.want = "the wechat global option is missing"
		}
		out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cfg), nil)
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
}
