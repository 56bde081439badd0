package caddywechat_test

import (
	"testing"

	_ "github.com/caddy-wechat/caddy-wechat"
	"github.com/caddy-wechat/caddy-wechat/internal/testenv"
)

// TestProductionModules: the production build (xcaddy --with the root
// package alone) registers exactly the golden list. A package that the
// root forgets to import fails here instead of vanishing from builds; the
// simulator must not be among them.
func TestProductionModules(t *testing.T) {
	testenv.CheckModules(t, "testdata/modules-production.txt")
}
