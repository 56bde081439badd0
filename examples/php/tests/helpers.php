<?php
// Test helpers: keys, a JWKS, assertions minted as the edge mints them, a
// JWKS server (php -S) on a free port, and a tiny test runner.

declare(strict_types=1);

function b64url(string $bin): string
{
    return rtrim(strtr(base64_encode($bin), '+/', '-_'), '=');
}

/** An Ed25519 or P-256 signing key with its kid and public JWK. */
function test_key(string $alg, string $kid): array
{
    if ($alg === 'EdDSA') {
        $pair = sodium_crypto_sign_keypair();
        $jwk = ['kty' => 'OKP', 'crv' => 'Ed25519', 'x' => b64url(sodium_crypto_sign_publickey($pair))];
        $private = sodium_crypto_sign_secretkey($pair);
    } else {
        $private = openssl_pkey_new(['private_key_type' => OPENSSL_KEYTYPE_EC, 'curve_name' => 'prime256v1']);
        $ec = openssl_pkey_get_details($private)['ec'];
        $pad = static fn (string $b): string => str_pad($b, 32, "\0", STR_PAD_LEFT);
        $jwk = ['kty' => 'EC', 'crv' => 'P-256', 'x' => b64url($pad($ec['x'])), 'y' => b64url($pad($ec['y']))];
    }
    return ['alg' => $alg, 'kid' => $kid, 'private' => $private, 'jwk' => $jwk + ['kid' => $kid, 'alg' => $alg, 'use' => 'sig']];
}

/** A DER ECDSA signature as JWS's raw r||s. */
function der_to_raw(string $der): string
{
    $pos = 2; // SEQUENCE, length (< 128 for P-256)
    $out = '';
    for ($i = 0; $i < 2; $i++) {
        $len = ord($der[$pos + 1]);
        $out .= str_pad(ltrim(substr($der, $pos + 2, $len), "\0"), 32, "\0", STR_PAD_LEFT);
        $pos += 2 + $len;
    }
    return $out;
}

/** Signs $claims with $key; $header entries override alg/kid. */
function mint(array $key, array $claims, array $header = []): string
{
    $h = b64url(json_encode(['alg' => $key['alg'], 'kid' => $key['kid'], 'typ' => 'JWT'] + $header));
    $p = b64url(json_encode($claims));
    if ($key['alg'] === 'EdDSA') {
        $sig = sodium_crypto_sign_detached("$h.$p", $key['private']);
    } else {
        openssl_sign("$h.$p", $der, $key['private'], OPENSSL_ALGO_SHA256);
        $sig = der_to_raw($der);
    }
    return "$h.$p." . b64url($sig);
}

function free_port(): int
{
    $s = stream_socket_server('tcp://127.0.0.1:0', $errno, $errstr);
    if ($s === false) {
        throw new RuntimeException("cannot bind a free port: $errstr");
    }
    $port = (int) substr(strrchr(stream_socket_get_name($s, false), ':'), 1);
    fclose($s);
    return $port;
}

/**
 * Serves $dir/jwks.json with `php -S` on a free port and counts the fetches
 * in $dir/hits. Returns [url, stop function].
 */
function start_jwks_server(string $dir, array $keys): array
{
    file_put_contents("$dir/jwks.json", json_encode(['keys' => array_map(static fn ($k) => $k['jwk'], $keys)]));
    file_put_contents("$dir/hits", '');
    $router = "$dir/router.php";
    file_put_contents($router, '<?php
        file_put_contents(__DIR__ . "/hits", "x", FILE_APPEND);
        header("Content-Type: application/json");
        header("Cache-Control: max-age=300");
        readfile(__DIR__ . "/jwks.json");
    ');
    $port = free_port();
    $log = "$dir/php-server.log";
    $proc = proc_open(
        [PHP_BINARY, '-n', '-S', "127.0.0.1:$port", $router],
        [0 => ['file', '/dev/null', 'r'], 1 => ['file', $log, 'a'], 2 => ['file', $log, 'a']],
        $pipes
    );
    if ($proc === false) {
        throw new RuntimeException('cannot start php -S');
    }
    $stop = static function () use ($proc): void {
        proc_terminate($proc);
        proc_close($proc);
    };
    for ($i = 0; $i < 100; $i++) {
        $c = @fsockopen('127.0.0.1', $port, $errno, $errstr, 0.1);
        if ($c !== false) {
            fclose($c);
            return ["http://127.0.0.1:$port/.well-known/jwks.json", $stop];
        }
        if (!proc_get_status($proc)['running']) {
            break;
        }
        usleep(20000);
    }
    $stop();
    throw new RuntimeException("php -S did not start on port $port:\n" . @file_get_contents($log));
}

function rmtree(string $dir): void
{
    if (!is_dir($dir) || is_link($dir)) {
        @unlink($dir);
        return;
    }
    foreach (scandir($dir) as $f) {
        if ($f !== '.' && $f !== '..') {
            rmtree("$dir/$f");
        }
    }
    @rmdir($dir);
}

final class TestFailure extends Exception
{
}

function check(bool $cond, string $what): void
{
    if (!$cond) {
        throw new TestFailure($what);
    }
}

function check_same(mixed $want, mixed $got, string $what = ''): void
{
    if ($want !== $got) {
        throw new TestFailure(($what !== '' ? "$what: " : '') . 'want ' . var_export($want, true) . ', got ' . var_export($got, true));
    }
}

/** Runs named closures; prints one line each and "N passed, N failed". */
function run_tests(array $tests): int
{
    $passed = $failed = 0;
    foreach ($tests as $name => $fn) {
        try {
            $fn();
            $passed++;
            echo "ok - $name\n";
        } catch (Throwable $e) {
            $failed++;
            echo "not ok - $name\n    " . get_class($e) . ': ' . str_replace("\n", "\n    ", $e->getMessage()) . "\n";
            if (!$e instanceof TestFailure) {
                echo '    at ' . $e->getFile() . ':' . $e->getLine() . "\n";
            }
        }
    }
    echo "$passed passed, $failed failed\n";
    return $failed === 0 ? 0 : 1;
}
