package mock_test

import (
	"testing"

	_ "github.com/caddy-wechat/caddy-wechat"
	"github.com/caddy-wechat/caddy-wechat/internal/testenv"
	_ "github.com/caddy-wechat/caddy-wechat/mock"
)

// TestDevModules: the development build (the root package and this one)
// registers exactly the golden list: the production modules and the
// simulator.
func TestDevModules(t *testing.T) {
	testenv.CheckModules(t, "../testdata/modules-dev.txt")
}
