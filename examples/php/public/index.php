<?php
// Front controller of the PHP example: Caddy sends every request here with
// `php_fastcgi` (see examples/README.md). Only public/ is the web root, so
// src/ and tests/ cannot be requested.

declare(strict_types=1);

require __DIR__ . '/../src/backend.php';

header_remove('X-Powered-By');
header('Content-Type: application/json');
header('Cache-Control: no-store');

try {
    $config = wechat_assertion_config_from_env();
} catch (InvalidArgumentException $e) {
    // Fail closed: a half-configured verifier must not fall back to trust.
    error_log('php backend: ' . $e->getMessage());
    http_response_code(500);
    echo wechat_json(['error' => 'misconfigured']);
    return;
}

[$status, $headers, $body] = wechat_backend_handle(
    $_SERVER,
    // php://input is empty for multipart/form-data (PHP parses it into $_POST).
    static fn (int $max): string => (string) file_get_contents('php://input', false, null, 0, $max),
    $config,
    'error_log'
);
http_response_code($status);
foreach ($headers as $name => $value) {
    header("$name: $value");
}
echo wechat_json($body);
