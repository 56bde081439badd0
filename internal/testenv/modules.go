package testenv

import (
	"os"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// CheckModules compares the plugin's registered modules with the golden
// list in the file golden, one module ID per line.
func CheckModules(t *testing.T, golden string) {
	t.Helper()
	var got []string
	for _, id := range caddy.Modules() {
		if id == "wechat" || strings.HasPrefix(id, "wechat.") || id == "wechatpay" || strings.HasPrefix(id, "wechatpay.") ||
			strings.HasPrefix(id, "http.handlers.wechat") || strings.HasPrefix(id, "admin.api.wechat") {
			got = append(got, id)
		}
	}
	raw, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Fields(string(raw)); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("registered modules:\n%s\nwant (%s):\n%s", strings.Join(got, "\n"), golden, strings.Join(want, "\n"))
	}
}
