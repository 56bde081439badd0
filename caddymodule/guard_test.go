package caddymodule

import (
	"os"
	"testing"
)

// TestMain fails the run when the caddytest integration tests were all
// skipped (caddytest skips under -short or when its prerequisites fail):
// a skipped integration test is an untested feature.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 && ranIntegration.Load() == 0 && os.Getenv("WECHAT_UNIT_ONLY") == "" {
		println("FAIL: no caddytest integration test ran")
		code = 1
	}
	os.Exit(code)
}
