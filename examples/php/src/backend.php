<?php
// The routes of the PHP example, as a function of $_SERVER and the body so
// that tests can call it without a web server. public/index.php is the glue.
//
// Caddy (php_fastcgi) authenticates the WeChat session and passes the trusted
// headers X-Openid, X-Unionid (only when known) and X-Wechat-Appid, which PHP
// shows as $_SERVER['HTTP_X_OPENID'], 'HTTP_X_UNIONID' and
// 'HTTP_X_WECHAT_APPID'. Anonymous requests (allowed with `optional`) arrive
// with none of them.
//
// CGI and FastCGI fold header names: X-Openid, X_Openid, x.openid and
// X_OPENID all become HTTP_X_OPENID, so a backend cannot tell a forged
// X_Openid from the real X-Openid. caddy-wechat's gate strips every
// spelling before it sets the real one; this example relies on that.
//
// Without WECHAT_JWKS_URL the headers are trusted as they are, which is safe
// only because php-fpm listens on loopback (or a private network) where
// nothing but Caddy can reach it. With WECHAT_JWKS_URL set, every request
// with an identity variable must also carry a valid X-Wechat-Assertion
// (HTTP_X_WECHAT_ASSERTION) matching it, or gets
// 401 {"error":"invalid_assertion"} before any route runs.

declare(strict_types=1);

require_once __DIR__ . '/wechat_assertion.php';

const MAX_ECHO_BODY = 65536;

/** Canonical header name, as Go writes it: HTTP_X_OPENID -> X-Openid. */
function wechat_canonical(string $cgiName): string
{
    return implode('-', array_map(
        static fn (string $p): string => ucfirst(strtolower($p)),
        explode('_', $cgiName)
    ));
}

/** $_SERVER['HTTP_...'] as a string; an empty value counts as absent. */
function wechat_server_header(array $server, string $key): string
{
    $v = $server[$key] ?? '';
    return is_string($v) ? $v : '';
}

/**
 * Handles one request. $readBody returns at most $max bytes of the body.
 * Returns [status, headers, JSON-able value].
 */
function wechat_backend_handle(array $server, callable $readBody, ?array $config, ?callable $log = null): array
{
    $openid = wechat_server_header($server, 'HTTP_X_OPENID');
    $unionid = wechat_server_header($server, 'HTTP_X_UNIONID');
    $appid = wechat_server_header($server, 'HTTP_X_WECHAT_APPID');
    $method = wechat_server_header($server, 'REQUEST_METHOD');
    $path = explode('?', wechat_server_header($server, 'REQUEST_URI'), 2)[0];

    if ($config !== null && ($openid !== '' || $unionid !== '' || $appid !== '')) {
        try {
            wechat_verify_assertion(wechat_server_header($server, 'HTTP_X_WECHAT_ASSERTION'), $openid, $appid, $unionid, $config);
        } catch (WechatAssertionRefused $e) {
            if ($log !== null) {
                $log("php backend: refused $method $path: " . $e->getMessage());
            }
            return [401, [], ['error' => 'invalid_assertion']];
        }
    }
    // else: header trust only (WECHAT_JWKS_URL unset), as the stdlib examples.

    if ($path === '/api/me') {
        if ($method !== 'GET') {
            return [405, ['Allow' => 'GET'], ['error' => 'method not allowed']];
        }
        if ($openid === '') {
            return [401, [], ['error' => 'unauthorized']];
        }
        $me = ['openid' => $openid, 'appid' => $appid];
        if ($unionid !== '') {
            $me['unionid'] = $unionid;
        }
        return [200, [], $me];
    }

    $headers = [];
    foreach ($server as $key => $value) {
        $key = (string) $key;
        if (str_starts_with($key, 'HTTP_')) {
            $headers[wechat_canonical(substr($key, 5))] = [(string) $value];
        } elseif (($key === 'CONTENT_TYPE' || $key === 'CONTENT_LENGTH') && $value !== '') {
            $headers[wechat_canonical($key)] = [(string) $value];
        }
    }
    ksort($headers);
    return [200, [], [
        'backend' => 'php',
        'method' => $method,
        'path' => $path,
        'openid' => $openid,
        'unionid' => $unionid,
        'appid' => $appid,
        'headers' => (object) $headers,
        'body' => (string) $readBody(MAX_ECHO_BODY),
    ]];
}

function wechat_json(mixed $value): string
{
    return json_encode($value, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_INVALID_UTF8_SUBSTITUTE | JSON_THROW_ON_ERROR);
}
