<?php
// Unit tests of the PHP example's routes and assertion verifier, with php-cli:
//   php examples/php/tests/test_backend.php
// The JWKS is served over HTTP by `php -S` on a free port.

declare(strict_types=1);

require __DIR__ . '/../src/backend.php';
require __DIR__ . '/helpers.php';

const AUD = 'api.example.com';
const ISS = 'caddy-wechat';
const OPENID = 'oNqLNgG-alice';
const APPID = 'wx0123456789abcdef';

$tmp = sys_get_temp_dir() . '/php-backend-test-' . bin2hex(random_bytes(6));
mkdir($tmp, 0700);
$stop = null;
register_shutdown_function(static function () use (&$stop, $tmp): void {
    if ($stop !== null) {
        $stop();
    }
    rmtree($tmp);
});

$ed = test_key('EdDSA', 'ed-1');
$ec = test_key('ES256', 'ec-1');
$rogue = test_key('EdDSA', 'ed-1');        // same kid as a published key, another key
$unknown = test_key('EdDSA', 'ed-unknown'); // a kid the JWKS does not have
[$jwksUrl, $stop] = start_jwks_server($tmp, [$ed, $ec]);
$config = wechat_assertion_config($jwksUrl, AUD, ISS, "$tmp/cache");

function claims(array $over = []): array
{
    $now = time();
    $c = array_merge(['iss' => ISS, 'aud' => AUD, 'sub' => OPENID, 'appid' => APPID, 'sid' => 's-1', 'iat' => $now, 'exp' => $now + 60], $over);
    return array_filter($c, static fn ($v) => $v !== null);
}

/** Calls the handler as php-fpm would, with $_SERVER-style variables. */
function call(string $uri, array $vars = [], ?array $config = null, string $method = 'GET', string $body = '', array &$logs = []): array
{
    $server = ['REQUEST_METHOD' => $method, 'REQUEST_URI' => $uri, 'HTTP_HOST' => 'backend.local'] + $vars;
    [$status, $headers, $value] = wechat_backend_handle(
        $server,
        static fn (int $max): string => substr($body, 0, $max),
        $config,
        static function (string $line) use (&$logs): void {
            $logs[] = $line;
        }
    );
    return [$status, json_decode(wechat_json($value), true), $headers];
}

function me(string $assertion, array $vars = []): array
{
    global $config;
    $vars += ['HTTP_X_OPENID' => OPENID, 'HTTP_X_WECHAT_APPID' => APPID];
    if ($assertion !== '') {
        $vars['HTTP_X_WECHAT_ASSERTION'] = $assertion;
    }
    $logs = [];
    [$status, $body] = call('/api/me', $vars, $config, 'GET', '', $logs);
    return [$status, $body, implode("\n", $logs)];
}

function refused(string $assertion, string $reason, array $vars = []): void
{
    [$status, $body, $log] = me($assertion, $vars);
    check_same([401, ['error' => 'invalid_assertion']], [$status, $body]);
    check(str_contains($log, $reason), "log should say '$reason', says: $log");
}

function hits(): int
{
    global $tmp;
    clearstatcache();
    return filesize("$tmp/hits");
}

exit(run_tests([
    // Header trust only (WECHAT_JWKS_URL unset): as the stdlib examples.
    'me reads the trusted headers' => function () {
        [$s, $b] = call('/api/me', ['HTTP_X_OPENID' => 'o-123', 'HTTP_X_UNIONID' => 'u-456', 'HTTP_X_WECHAT_APPID' => 'wx-app']);
        check_same([200, ['openid' => 'o-123', 'appid' => 'wx-app', 'unionid' => 'u-456']], [$s, $b]);
    },
    'me omits an unknown unionid' => function () {
        [$s, $b] = call('/api/me', ['HTTP_X_OPENID' => 'o-123', 'HTTP_X_WECHAT_APPID' => 'wx-app']);
        check_same([200, ['openid' => 'o-123', 'appid' => 'wx-app']], [$s, $b]);
    },
    'me is 401 for an anonymous request' => function () {
        check_same([401, ['error' => 'unauthorized']], array_slice(call('/api/me'), 0, 2));
    },
    'me rejects other methods' => function () {
        [$s, , $h] = call('/api/me', ['HTTP_X_OPENID' => 'o-123'], null, 'POST', 'x');
        check_same([405, ['Allow' => 'GET']], [$s, $h]);
    },
    'echo shows what reached the upstream' => function () {
        [$s, $b] = call('/orders/42?x=1', [
            'HTTP_X_OPENID' => 'o-123', 'HTTP_X_UNIONID' => 'u-456', 'HTTP_X_WECHAT_APPID' => 'wx-app',
            'CONTENT_TYPE' => 'application/json', 'CONTENT_LENGTH' => '9',
        ], null, 'POST', '{"qty":2}');
        check_same(200, $s);
        foreach (['backend' => 'php', 'method' => 'POST', 'path' => '/orders/42', 'openid' => 'o-123',
                  'unionid' => 'u-456', 'appid' => 'wx-app', 'body' => '{"qty":2}'] as $k => $v) {
            check_same($v, $b[$k], $k);
        }
        check_same(['o-123'], $b['headers']['X-Openid']);
        check_same(['backend.local'], $b['headers']['Host']);
        check_same(['application/json'], $b['headers']['Content-Type']);
    },
    'echo for an anonymous request' => function () {
        [$s, $b] = call('/public');
        check_same([200, '', '', '', ''], [$s, $b['openid'], $b['unionid'], $b['appid'], $b['body']]);
        check(!isset($b['headers']['X-Openid']), 'no X-Openid');
    },
    'echo body is capped at 64 KiB' => function () {
        [, $b] = call('/upload', [], null, 'PUT', str_repeat('a', MAX_ECHO_BODY + 100));
        check_same(MAX_ECHO_BODY, strlen($b['body']));
    },

    // WECHAT_JWKS_URL set.
    'a valid EdDSA assertion passes' => function () use ($ed) {
        check_same([200, ['openid' => OPENID, 'appid' => APPID], ''], me(mint($ed, claims())));
    },
    'a valid ES256 assertion passes' => function () use ($ec) {
        check_same([200, ['openid' => OPENID, 'appid' => APPID], ''], me(mint($ec, claims())));
    },
    'a valid assertion with unionid passes' => function () use ($ed) {
        [$s, $b] = me(mint($ed, claims(['unionid' => 'u-1'])), ['HTTP_X_UNIONID' => 'u-1']);
        check_same([200, 'u-1'], [$s, $b['unionid']]);
    },
    'X-Openid without an assertion is refused' => function () {
        refused('', 'without X-Wechat-Assertion');
    },
    'an expired assertion is refused' => function () use ($ed) {
        refused(mint($ed, claims(['iat' => time() - 120, 'exp' => time() - 60])), 'expired');
    },
    'an assertion for another aud is refused' => function () use ($ed) {
        refused(mint($ed, claims(['aud' => 'other.example.com'])), 'wrong aud');
    },
    'an assertion from another issuer is refused' => function () use ($ed) {
        refused(mint($ed, claims(['iss' => 'someone-else'])), 'wrong iss');
    },
    'an assertion whose sub is not X-Openid is refused' => function () use ($ed) {
        refused(mint($ed, claims(['sub' => 'oSomebodyElse'])), 'sub is not X-Openid');
    },
    'an assertion whose appid is not X-Wechat-Appid is refused' => function () use ($ed) {
        refused(mint($ed, claims(['appid' => 'wxffffffffffffffff'])), 'appid is not X-Wechat-Appid');
    },
    'an assertion whose unionid is not X-Unionid is refused' => function () use ($ed) {
        refused(mint($ed, claims(['unionid' => 'u-1'])), 'unionid is not X-Unionid', ['HTTP_X_UNIONID' => 'u-2']);
        refused(mint($ed, claims()), 'unionid is not X-Unionid', ['HTTP_X_UNIONID' => 'u-2']);
    },
    'an assertion signed by a key not in the JWKS is refused' => function () use ($rogue, $unknown) {
        refused(mint($rogue, claims()), 'bad signature');
        refused(mint($unknown, claims()), 'no key in the JWKS has this kid');
    },
    'an ES256 signature by another P-256 key is refused' => function () use ($ec) {
        $other = test_key('ES256', 'ec-1');
        refused(mint($other, claims()), 'bad signature');
    },
    'a lifetime over 5 minutes, a future iat or no exp is refused' => function () use ($ed) {
        refused(mint($ed, claims(['exp' => time() + 600])), 'lifetime over 5 minutes');
        refused(mint($ed, claims(['iat' => time() + 120, 'exp' => time() + 150])), 'iat in the future');
        refused(mint($ed, claims(['exp' => null])), 'missing exp');
        refused(mint($ed, claims(['exp' => [time() + 60]])), 'must be numbers');
    },
    'other algorithms and cross-key use are refused' => function () use ($ed) {
        $p = explode('.', mint($ed, claims()))[1];
        refused(b64url('{"alg":"HS256","kid":"ed-1"}') . ".$p." . b64url(hash_hmac('sha256', 'x', 'k', true)), 'alg "HS256" not allowed');
        refused(b64url('{"alg":"none","kid":"ed-1"}') . ".$p.", 'not base64url');
        refused(b64url('{"alg":"none","kid":"ed-1"}') . ".$p.AA", 'alg "none" not allowed');
        // An ES256 header naming the Ed25519 key.
        refused(b64url('{"alg":"ES256","kid":"ed-1"}') . ".$p." . b64url(str_repeat("\1", 64)), 'is not an ES256 signing key');
    },
    'a tampered or malformed assertion is refused' => function () use ($ed) {
        [$h, , $s] = explode('.', mint($ed, claims()));
        $forged = b64url(json_encode(claims(['sub' => 'oSomebodyElse'])));
        refused("$h.$forged.$s", 'bad signature', ['HTTP_X_OPENID' => 'oSomebodyElse']);
        refused('not-a-jwt', 'not a JWS');
        refused(str_repeat('a', 5000), 'over 4 KiB');
    },
    'a refused request never reaches the route' => function () {
        global $config;
        $logs = [];
        [$s, $b] = call('/orders', ['HTTP_X_OPENID' => OPENID], $config, 'POST', 'x', $logs);
        check_same([401, ['error' => 'invalid_assertion']], [$s, $b]);
        check(str_contains(implode("\n", $logs), 'POST /orders'), 'logged');
    },
    'X-Unionid or X-Wechat-Appid alone also needs an assertion' => function () {
        global $config;
        check_same(401, call('/x', ['HTTP_X_WECHAT_APPID' => APPID], $config)[0]);
        check_same(401, call('/x', ['HTTP_X_UNIONID' => 'u-1'], $config)[0]);
    },
    'an assertion without X-Openid is refused' => function () use ($ed) {
        global $config;
        $logs = [];
        $vars = ['HTTP_X_WECHAT_APPID' => APPID, 'HTTP_X_WECHAT_ASSERTION' => mint($ed, claims())];
        check_same(401, call('/x', $vars, $config, 'GET', '', $logs)[0]);
        check(str_contains(implode("\n", $logs), 'without X-Openid'), implode("\n", $logs));
    },
    'an anonymous request passes as anonymous' => function () {
        global $config;
        [$s, $b] = call('/public', [], $config);
        check_same([200, ''], [$s, $b['openid']]);
        check_same([401, ['error' => 'unauthorized']], array_slice(call('/api/me', [], $config), 0, 2));
    },
    'the JWKS is cached in a private file' => function () use ($ed, $unknown, $tmp) {
        // Every test above shared one fetch (and at most one refetch for the unknown kid).
        check(hits() >= 1 && hits() <= 2, 'JWKS fetched ' . hits() . ' times');
        $before = hits();
        for ($i = 0; $i < 5; $i++) {
            check_same(200, me(mint($ed, claims()))[0]);
            check_same(401, me(mint($unknown, claims()))[0]);
        }
        check_same($before, hits(), 'fetches after 10 more requests');
        check_same(0700, fileperms("$tmp/cache") & 0777, 'cache dir mode');
    },
    'a cache directory others can write is not used' => function () use ($ed, $tmp) {
        global $jwksUrl;
        mkdir("$tmp/open", 0777);
        chmod("$tmp/open", 0777);
        $cfg = wechat_assertion_config($jwksUrl, AUD, ISS, "$tmp/open");
        check_same(null, wechat_jwks_cache_dir($cfg));
        // Still verifies, fetching every time.
        $before = hits();
        wechat_verify_assertion(mint($ed, claims()), OPENID, APPID, '', $cfg);
        check_same($before + 1, hits());
    },
    'an unreachable JWKS refuses' => function () use ($ed, $tmp) {
        $cfg = wechat_assertion_config('http://127.0.0.1:' . free_port() . '/jwks.json', AUD, ISS, "$tmp/cache2");
        try {
            wechat_verify_assertion(mint($ed, claims()), OPENID, APPID, '', $cfg);
            check(false, 'verified without a JWKS');
        } catch (WechatAssertionRefused $e) {
            check(str_contains($e->getMessage(), 'cannot fetch the JWKS'), $e->getMessage());
        }
    },
    'config: audience required, http(s) only, env read' => function () {
        foreach ([['http://h/j', ''], ['file:///etc/passwd', 'a']] as [$u, $a]) {
            try {
                wechat_assertion_config($u, $a);
                check(false, "accepted $u with audience '$a'");
            } catch (InvalidArgumentException $e) {
            }
        }
        putenv('WECHAT_JWKS_URL');
        check_same(null, wechat_assertion_config_from_env());
        putenv('WECHAT_JWKS_URL=http://h/j');
        putenv('WECHAT_ASSERTION_AUDIENCE=a');
        $c = wechat_assertion_config_from_env();
        check_same(['http://h/j', 'a', 'caddy-wechat'], [$c['jwks_url'], $c['audience'], $c['issuer']]);
        putenv('WECHAT_JWKS_URL');
        putenv('WECHAT_ASSERTION_AUDIENCE');
    },
    'es256 raw to DER handles high bits and leading zeros' => function () {
        $raw = "\0\0\x80" . str_repeat("\1", 29) . "\xff" . str_repeat("\2", 31);
        $der = wechat_es256_raw_to_der($raw);
        check_same($raw, der_to_raw($der));
        check_same("\x30", $der[0]);
    },
]));
