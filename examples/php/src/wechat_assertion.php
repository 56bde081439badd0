<?php
// Verifies caddy-wechat's X-Wechat-Assertion without a JWT library:
// libsodium for EdDSA (Ed25519), openssl for ES256 (P-256).
//
// The edge signs a short-lived JWT (`kid` in the header) whose claims repeat
// the identity headers it set: `sub` (X-Openid), `appid` (X-Wechat-Appid),
// `unionid` (X-Unionid, when known), plus `iss`, `aud`, `sid`, `iat`, `exp`.
// Its public keys are a JWKS at WECHAT_JWKS_URL.
//
// PHP keeps nothing between requests, so the JWKS is cached in a file, in a
// directory only this user can write (a JWKS planted by someone else would
// let them sign assertions).

declare(strict_types=1);

final class WechatAssertionRefused extends RuntimeException
{
}

const WECHAT_ASSERTION_ALGS = ['EdDSA', 'ES256'];
const WECHAT_ASSERTION_LEEWAY = 10;        // clock skew allowed on exp and iat, seconds
const WECHAT_ASSERTION_MAX_LIFETIME = 300; // the contract: exp at most 5 minutes after iat
const WECHAT_ASSERTION_MAX_BYTES = 4096;   // as the gate's token limit; refused before parsing
const WECHAT_JWKS_TTL = 300;               // as the edge's Cache-Control max-age=300
const WECHAT_JWKS_COOLDOWN = 30;           // at most one refetch per 30 s for an unknown kid
const WECHAT_JWKS_MAX_BYTES = 262144;

/**
 * The verification settings from the environment (getenv sees php-fpm's pool
 * env[] and the FastCGI params Caddy sends with `php_fastcgi { env ... }`).
 * Null when WECHAT_JWKS_URL is unset: header trust only.
 */
function wechat_assertion_config_from_env(): ?array
{
    $url = (string) getenv('WECHAT_JWKS_URL');
    if ($url === '') {
        return null;
    }
    $audience = (string) getenv('WECHAT_ASSERTION_AUDIENCE');
    $issuer = (string) getenv('WECHAT_ASSERTION_ISSUER');
    return wechat_assertion_config($url, $audience, $issuer === '' ? 'caddy-wechat' : $issuer);
}

function wechat_assertion_config(string $jwksUrl, string $audience, string $issuer = 'caddy-wechat', ?string $cacheDir = null): array
{
    if ($audience === '') {
        throw new InvalidArgumentException('WECHAT_JWKS_URL is set but WECHAT_ASSERTION_AUDIENCE is not: set it to the aud the edge signs (the site host by default)');
    }
    if (!preg_match('#^https?://#i', $jwksUrl)) {
        throw new InvalidArgumentException('WECHAT_JWKS_URL must be an http:// or https:// URL');
    }
    if ($cacheDir === null && function_exists('posix_geteuid')) {
        $cacheDir = rtrim(sys_get_temp_dir(), '/') . '/caddy-wechat-jwks-' . posix_geteuid();
    }
    return ['jwks_url' => $jwksUrl, 'audience' => $audience, 'issuer' => $issuer, 'cache_dir' => $cacheDir];
}

function wechat_b64url_decode(string $s): string
{
    if ($s === '' || !preg_match('/^[A-Za-z0-9_-]+$/', $s)) {
        throw new WechatAssertionRefused('not base64url');
    }
    $out = base64_decode(strtr($s, '-_', '+/'), true);
    if ($out === false) {
        throw new WechatAssertionRefused('not base64url');
    }
    return $out;
}

/** A raw r||s ES256 signature (64 bytes) as the DER SEQUENCE openssl wants. */
function wechat_es256_raw_to_der(string $raw): string
{
    if (strlen($raw) !== 64) {
        throw new WechatAssertionRefused('ES256 signature is not 64 bytes');
    }
    $int = static function (string $b): string {
        $b = ltrim($b, "\0");
        if ($b === '' || ord($b[0]) & 0x80) {
            $b = "\0" . $b;
        }
        return "\x02" . chr(strlen($b)) . $b;
    };
    $seq = $int(substr($raw, 0, 32)) . $int(substr($raw, 32));
    return "\x30" . chr(strlen($seq)) . $seq;
}

/** A P-256 public JWK as PEM (SubjectPublicKeyInfo, uncompressed point). */
function wechat_p256_jwk_to_pem(array $jwk): string
{
    $x = wechat_b64url_decode((string) ($jwk['x'] ?? ''));
    $y = wechat_b64url_decode((string) ($jwk['y'] ?? ''));
    if (strlen($x) !== 32 || strlen($y) !== 32) {
        throw new WechatAssertionRefused('bad P-256 key');
    }
    $der = hex2bin('3059301306072a8648ce3d020106082a8648ce3d030107034200') . "\x04" . $x . $y;
    return "-----BEGIN PUBLIC KEY-----\n" . chunk_split(base64_encode($der), 64, "\n") . "-----END PUBLIC KEY-----\n";
}

/** A private cache directory, or null when it cannot be made safe. */
function wechat_jwks_cache_dir(array $config): ?string
{
    $dir = $config['cache_dir'];
    if ($dir === null || !function_exists('posix_geteuid')) {
        return null; // without posix we cannot check the owner: fetch every time
    }
    if (!is_dir($dir) && !@mkdir($dir, 0700, true) && !is_dir($dir)) {
        return null;
    }
    clearstatcache(true, $dir);
    $st = @lstat($dir);
    if ($st === false || ($st['mode'] & 0170000) !== 0040000 || $st['uid'] !== posix_geteuid() || ($st['mode'] & 0077) !== 0) {
        return null; // not ours, a symlink, or open to others: do not trust or write it
    }
    return $dir;
}

function wechat_jwks_fetch(string $url): array
{
    $ctx = stream_context_create(['http' => [
        'method' => 'GET',
        'timeout' => 5,
        'follow_location' => 0,
        'ignore_errors' => true,
        'header' => "Accept: application/json\r\n",
    ]]);
    $body = @file_get_contents($url, false, $ctx, 0, WECHAT_JWKS_MAX_BYTES + 1);
    if ($body === false) {
        $err = error_get_last();
        throw new WechatAssertionRefused('cannot fetch the JWKS: ' . ($err['message'] ?? 'unknown error'));
    }
    $status = isset($http_response_header[0]) && preg_match('#^HTTP/\S+\s+(\d{3})#', $http_response_header[0], $m) ? (int) $m[1] : 0;
    if ($status !== 200) {
        throw new WechatAssertionRefused("cannot fetch the JWKS: HTTP $status");
    }
    if (strlen($body) > WECHAT_JWKS_MAX_BYTES) {
        throw new WechatAssertionRefused('cannot fetch the JWKS: over 256 KiB');
    }
    $jwks = json_decode($body, true);
    if (!is_array($jwks) || !isset($jwks['keys']) || !is_array($jwks['keys'])) {
        throw new WechatAssertionRefused('cannot fetch the JWKS: not a JWKS');
    }
    $keys = [];
    foreach ($jwks['keys'] as $jwk) {
        if (is_array($jwk) && isset($jwk['kid']) && is_string($jwk['kid'])) {
            $keys[$jwk['kid']] = $jwk;
        }
    }
    return $keys;
}

/**
 * The JWKS as kid => JWK, from the file cache when it is fresh. With
 * $unknownKid set, a cached copy older than the cooldown is refetched once.
 */
function wechat_jwks_keys(array $config, ?string $unknownKid = null): array
{
    $dir = wechat_jwks_cache_dir($config);
    $file = $dir === null ? null : $dir . '/' . hash('sha256', $config['jwks_url']) . '.json';
    if ($file !== null && is_file($file)) {
        $cached = json_decode((string) @file_get_contents($file), true);
        if (is_array($cached) && isset($cached['fetched'], $cached['keys']) && is_array($cached['keys'])) {
            $age = time() - (int) $cached['fetched'];
            $fresh = $age >= 0 && $age < WECHAT_JWKS_TTL;
            $mayRefetch = $unknownKid !== null && !isset($cached['keys'][$unknownKid]) && $age >= WECHAT_JWKS_COOLDOWN;
            if ($fresh && !$mayRefetch) {
                return $cached['keys'];
            }
        }
    }
    $keys = wechat_jwks_fetch($config['jwks_url']);
    if ($file !== null) {
        $tmp = @tempnam($dir, 'jwks');
        if ($tmp !== false) {
            @file_put_contents($tmp, json_encode(['fetched' => time(), 'keys' => $keys]));
            @chmod($tmp, 0600);
            if (!@rename($tmp, $file)) {
                @unlink($tmp);
            }
        }
    }
    return $keys;
}

/**
 * Verifies an assertion against the identity headers. Returns the claims, or
 * throws WechatAssertionRefused with the reason.
 */
function wechat_verify_assertion(string $jwt, string $openid, string $appid, string $unionid, array $config): array
{
    if ($jwt === '') {
        throw new WechatAssertionRefused('identity headers without X-Wechat-Assertion');
    }
    if ($openid === '') {
        throw new WechatAssertionRefused('X-Unionid or X-Wechat-Appid without X-Openid');
    }
    if (strlen($jwt) > WECHAT_ASSERTION_MAX_BYTES) {
        throw new WechatAssertionRefused('assertion over 4 KiB');
    }
    $parts = explode('.', $jwt);
    if (count($parts) !== 3) {
        throw new WechatAssertionRefused('not a JWS compact serialization');
    }
    [$h64, $p64, $s64] = $parts;
    $header = json_decode(wechat_b64url_decode($h64), true);
    $claims = json_decode(wechat_b64url_decode($p64), true);
    $sig = wechat_b64url_decode($s64);
    if (!is_array($header) || !is_array($claims) || array_is_list($claims) && $claims !== []) {
        throw new WechatAssertionRefused('header or claims are not JSON objects');
    }
    $alg = $header['alg'] ?? null;
    if (!in_array($alg, WECHAT_ASSERTION_ALGS, true)) {
        throw new WechatAssertionRefused('alg ' . json_encode($alg) . ' not allowed');
    }
    if (isset($header['crit'])) {
        throw new WechatAssertionRefused('crit header not supported');
    }
    $kid = $header['kid'] ?? null;
    if (!is_string($kid) || $kid === '') {
        throw new WechatAssertionRefused('no kid');
    }
    $keys = wechat_jwks_keys($config);
    if (!isset($keys[$kid])) {
        $keys = wechat_jwks_keys($config, $kid);
    }
    if (!isset($keys[$kid])) {
        throw new WechatAssertionRefused('no key in the JWKS has this kid');
    }
    $jwk = $keys[$kid];
    if (isset($jwk['alg']) && $jwk['alg'] !== $alg || isset($jwk['use']) && $jwk['use'] !== 'sig') {
        throw new WechatAssertionRefused("key $kid is not an $alg signing key");
    }
    $signed = $h64 . '.' . $p64;
    if ($alg === 'EdDSA') {
        if (($jwk['kty'] ?? '') !== 'OKP' || ($jwk['crv'] ?? '') !== 'Ed25519') {
            throw new WechatAssertionRefused("key $kid is not an EdDSA key");
        }
        $pk = wechat_b64url_decode((string) ($jwk['x'] ?? ''));
        if (strlen($pk) !== SODIUM_CRYPTO_SIGN_PUBLICKEYBYTES || strlen($sig) !== SODIUM_CRYPTO_SIGN_BYTES
            || !sodium_crypto_sign_verify_detached($sig, $signed, $pk)) {
            throw new WechatAssertionRefused('bad signature');
        }
    } else {
        if (($jwk['kty'] ?? '') !== 'EC' || ($jwk['crv'] ?? '') !== 'P-256') {
            throw new WechatAssertionRefused("key $kid is not an ES256 key");
        }
        if (openssl_verify($signed, wechat_es256_raw_to_der($sig), wechat_p256_jwk_to_pem($jwk), OPENSSL_ALGO_SHA256) !== 1) {
            while (openssl_error_string() !== false) {
                // drain openssl's error queue
            }
            throw new WechatAssertionRefused('bad signature');
        }
    }

    $now = time();
    foreach (['iss', 'aud', 'sub', 'iat', 'exp'] as $claim) {
        if (!array_key_exists($claim, $claims)) {
            throw new WechatAssertionRefused("missing $claim");
        }
    }
    if (!is_int($claims['iat']) && !is_float($claims['iat']) || !is_int($claims['exp']) && !is_float($claims['exp'])) {
        throw new WechatAssertionRefused('iat and exp must be numbers');
    }
    if ($claims['iss'] !== $config['issuer']) {
        throw new WechatAssertionRefused('wrong iss');
    }
    $aud = is_array($claims['aud']) ? $claims['aud'] : [$claims['aud']];
    if (!in_array($config['audience'], $aud, true)) {
        throw new WechatAssertionRefused('wrong aud');
    }
    if ($claims['exp'] <= $now - WECHAT_ASSERTION_LEEWAY) {
        throw new WechatAssertionRefused('expired');
    }
    if ($claims['iat'] > $now + WECHAT_ASSERTION_LEEWAY) {
        throw new WechatAssertionRefused('iat in the future');
    }
    if (isset($claims['nbf']) && (!is_int($claims['nbf']) && !is_float($claims['nbf']) || $claims['nbf'] > $now + WECHAT_ASSERTION_LEEWAY)) {
        throw new WechatAssertionRefused('not yet valid');
    }
    if ($claims['exp'] - $claims['iat'] > WECHAT_ASSERTION_MAX_LIFETIME) {
        throw new WechatAssertionRefused('lifetime over 5 minutes');
    }
    if ($claims['sub'] !== $openid) {
        throw new WechatAssertionRefused('sub is not X-Openid');
    }
    if ($appid !== '' && ($claims['appid'] ?? null) !== $appid) {
        throw new WechatAssertionRefused('appid is not X-Wechat-Appid');
    }
    if ($unionid !== '' && ($claims['unionid'] ?? null) !== $unionid) {
        throw new WechatAssertionRefused('unionid is not X-Unionid');
    }
    return $claims;
}
