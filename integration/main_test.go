package integration

import (
	"flag"
	"os"
	"testing"

	_ "github.com/caddyserver/caddy/v2/caddytest"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	// What xcaddy builds: the production plugin, and the simulator the
	// tests talk to.
	_ "github.com/caddy-wechat/caddy-wechat"
	_ "github.com/caddy-wechat/caddy-wechat/mock"

	. "github.com/caddy-wechat/caddy-wechat/internal/testenv"
)

// TestMain fails the run when the caddytest integration tests were all
// skipped (caddytest skips under -short or when its prerequisites fail):
// a skipped integration test is an untested feature. Runs that select
// tests on purpose (-run, -fuzz) or set WECHAT_UNIT_ONLY are exempt.
func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	selective := flag.Lookup("test.run").Value.String() != "" || flag.Lookup("test.fuzz").Value.String() != ""
	if code == 0 && Ran() == 0 && !selective && os.Getenv("WECHAT_UNIT_ONLY") == "" {
		println("FAIL: no caddytest integration test ran")
		code = 1
	}
	os.Exit(code)
}
