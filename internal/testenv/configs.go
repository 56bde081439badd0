package testenv

import (
	"fmt"
	"net/http"
	"testing"
)

// the simulator on MockPort and underscore/dot names allowed on UnderPort.
func StdConfig(apiBase, up string) string {
	return fmt.Sprintf(`{
	admin localhost:2999
	http_port %[3]d
	https_port 9543
	auto_https off
	skip_install_trust
	# Caddy refuses headers over 16 KiB with 431 itself; a larger limit
	# lets the 20 KB forged token reach the gate's own 4 KiB check.
	servers {
		max_header_size 64KiB
	}
	servers :%[7]d {
		max_header_size 64KiB
		expected_underscore_headers X_Openid X_Unionid X_Wechat_Appid
		expected_dot_headers X.Openid X.Unionid X.Wechat.Appid
	}
	wechat {
		api_base %[1]s
		timeout 1s
		app %[8]s {
			secret %[9]s
		}
		app %[10]s {
			secret %[11]s
		}
		token {
			signing_key %[12]s
			ttl 1h
		}
	}
}
:%[3]d {
	wechat_login /login {
		rate_limit client 100000 1m
	}
	wechat_auth
	reverse_proxy %[2]s {
		transport http {
			keepalive 2s
		}
	}
}
:%[4]d {
	wechat_auth {
		optional
	}
	reverse_proxy %[2]s
}
:%[5]d {
	wechat_auth
	reverse_proxy %[2]s
	handle_errors {
		respond "styled {err.status_code}" {err.status_code}
	}
}
:%[6]d {
	wechat_mock
}
:%[7]d {
	wechat_auth
	reverse_proxy %[2]s
}
`, apiBase, up, MainPort, OptPort, StyledPort, MockPort, UnderPort, AppID, Secret, AppID2, Secret2, SigningKey)
}

// SitesConfig is a Caddyfile with stdConfig's wechat app and global
// options, extra global options, and the given sites only.
func SitesConfig(apiBase, global, sites string) string {
	return fmt.Sprintf(`{
	admin localhost:2999
	auto_https off
	skip_install_trust
	%[5]s
	wechat {
		api_base %[1]s
		timeout 1s
		app %[2]s {
			secret %[3]s
		}
		app %[6]s {
			secret %[7]s
		}
		token {
			signing_key %[4]s
			ttl 1h
		}
	}
}
%[8]s
`, apiBase, AppID, Secret, SigningKey, global, AppID2, Secret2, sites)
}

// UDConfig is the Caddyfile of the user data tests. global is added to
// the global options (logging), sites after the standard sites.
func UDConfig(apiBase, up, global, sites string) string {
	return UDConfigWith(apiBase, up, global, sites, "")
}

// UDConfigWith also adds inSite (an access log, say) to the login and
// wechat_api sites.
func UDConfigWith(apiBase, up, global, sites, inSite string) string {
	return fmt.Sprintf(`{
	admin localhost:2999
	http_port %[3]d
	https_port 9545
	auto_https off
	skip_install_trust
	%[13]s
	wechat {
		api_base %[1]s
		timeout 2s
		app %[7]s {
			secret %[8]s
		}
		app %[9]s {
			secret %[10]s
		}
		app %[11]s {
			secret %[12]s
		}
		token {
			signing_key %[14]s
			ttl 1h
		}
	}
}
:%[3]d {
	%[16]s
	wechat_login /login {
		rate_limit client 100000 1m
	}
	handle /decrypt {
		wechat_auth
		wechat_decrypt
	}
	handle /decrypt/forward {
		wechat_auth
		wechat_decrypt {
			forward
		}
		reverse_proxy %[2]s {
			transport http {
				keepalive 2s
			}
		}
	}
	handle /phone {
		wechat_auth
		wechat_phone
	}
	handle /phone/forward {
		wechat_auth
		wechat_phone {
			forward
		}
		reverse_proxy %[2]s {
			transport http {
				keepalive 2s
			}
		}
	}
	handle /anon/* {
		wechat_auth {
			optional
		}
		wechat_decrypt /anon/decrypt
		wechat_phone /anon/phone
	}
	handle /nogate/decrypt {
		wechat_decrypt
	}
	handle /nogate/phone {
		wechat_phone
	}
}
:%[4]d {
	%[16]s
	bind 127.0.0.1
	wechat_api
}
:%[5]d {
	bind 127.0.0.1
	wechat_api {
		app %[9]s
	}
}
:%[6]d {
	wechat_mock
}
%[15]s
`, apiBase, up, UDPort, UDAPIPort, UDBoundPort, UDMockPort,
		AppID, Secret, AppID2, Secret2, SampleAppID, SampleSecret,
		global, SigningKey, sites, inSite)
}

// UDLogin logs code in for appID on udPort and returns the token.
func UDLogin(t *testing.T, c *http.Client, code, appID string) (string, map[string]any) {
	t.Helper()
	return LoginAt(t, c, UDPort, code, appID)
}
