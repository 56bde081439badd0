package testenv

import "github.com/caddy-wechat/caddy-wechat/internal/oracle"

// IsTrustedName reports a header name the edge sets for backends to
// trust, in any spelling a backend would fold onto it (see oracle).
func IsTrustedName(name string) bool { return oracle.IsTrustedName(name) }
