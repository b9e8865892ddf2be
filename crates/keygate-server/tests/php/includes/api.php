<?php
// Fixture for tests/php_differential.rs: answers with what PHP parsed from
// the request, as JSON. Every key and string value is hex-encoded (so bytes
// that are not UTF-8 survive json_encode) and tagged with its type:
//   key:   {"i": int} | {"s": hex}
//   value: {"s": hex} | {"a": [[key, value], ...]}   (in PHP's order)

function kg_key($key)
{
    return is_int($key) ? ['i' => $key] : ['s' => bin2hex($key)];
}

function kg_value($value)
{
    if (is_array($value)) {
        $entries = [];
        foreach ($value as $key => $inner) {
            $entries[] = [kg_key($key), kg_value($inner)];
        }
        return ['a' => $entries];
    }
    return ['s' => bin2hex((string) $value)];
}

header('Content-Type: application/json');
echo json_encode([
    'keygate_php_fixture' => 1,
    'method' => $_SERVER['REQUEST_METHOD'],
    'get' => kg_value($_GET),
    'post' => kg_value($_POST),
    'request' => kg_value($_REQUEST),
    'files' => count($_FILES),
]);
