package testenv

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2/caddytest"
)

// AdminPort is the admin endpoint of this test binary's in-process Caddy:
// chosen free when the binary starts (or CADDY_WECHAT_ADMIN_PORT), not
// caddytest's fixed 2999, so that two test binaries on one machine (two
// checkouts, two packages) never load configs into each other's Caddy.
// The configs are written with localhost:2999, which StartCaddy and
// LoadConfigErr rewrite.
var AdminPort = adminPort()

func adminPort() int {
	if p, err := strconv.Atoi(os.Getenv("CADDY_WECHAT_ADMIN_PORT")); err == nil && p > 0 {
		return p
	}
	return pickPort()
}

func init() { caddytest.Default.AdminPort = AdminPort }

// AdminURL is the URL of path on the admin endpoint.
func AdminURL(path string) string { return fmt.Sprintf("http://localhost:%d%s", AdminPort, path) }

// withAdmin points a config written for localhost:2999 at AdminPort.
func withAdmin(cfg string) string {
	return strings.ReplaceAll(cfg, "admin localhost:2999", fmt.Sprintf("admin localhost:%d", AdminPort))
}
