#!/usr/bin/env bash
# Installs what the test suite needs beyond the Rust toolchain: Debian's
# Chromium and ChromeDriver for the admin UI browser tests, Debian's
# php-cli for the differential test against PHP, Debian's redis-server
# (started on 127.0.0.1:6379 when nothing answers there) for the shared rate
# limiter's tests, and for the Debian package test (scripts/test-package.sh)
# cargo-deb plus Debian's systemd (for systemd-analyze; nothing is started)
# and adduser, and schemathesis (PyPI, in a virtualenv) for the management
# API's schema test. PostgreSQL is expected at 127.0.0.1:5432 (its tests skip
# with a notice when it is not).
# Idempotent; needs root (or passwordless sudo) on Debian.
set -euo pipefail

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi

missing=()
for bin in chromium chromedriver; do
    command -v "$bin" >/dev/null 2>&1 || missing+=("$bin")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing chromium and chromium-driver (missing: ${missing[*]})"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
fi
if ! command -v php >/dev/null 2>&1; then
    echo "installing php-cli (missing: php)"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends php-cli >/dev/null
fi
# PHP's curl extension and the curl command: the HTTPS tests call keygate
# the way WHMCS's API client sample does, and with `curl --cacert`
# (crates/keygate/tests/tls.rs).
if ! command -v curl >/dev/null 2>&1 \
    || ! php -r "exit(extension_loaded('curl') ? 0 : 1);" >/dev/null 2>&1; then
    echo "installing php-curl and curl (missing: PHP's curl extension or curl)"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends php-curl curl >/dev/null
fi
if ! command -v redis-server >/dev/null 2>&1; then
    echo "installing redis-server (missing: redis-server)"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends redis-server >/dev/null
fi
missing=()
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
command -v adduser >/dev/null 2>&1 || missing+=(adduser)
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]} (for the package test)"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# cargo-deb builds the .deb. Pinned: 3.8.0 builds with rustc >= 1.85
# (--locked: its own tested dependency versions). Compiling it takes about a
# minute; an installed cargo-deb, any version, is kept.
if ! cargo deb --version >/dev/null 2>&1; then
    echo "installing cargo-deb (missing)"
    cargo install cargo-deb --version 3.8.0 --locked --quiet
fi
# schemathesis (PyPI) checks the management API against its OpenAPI
# document (scripts/test-api-schema.sh), from a virtualenv of its own.
# Pinned so a new release cannot change what CI checks.
schemathesis_venv="$HOME/.cache/keygate/schemathesis"
if [ ! -x "$schemathesis_venv/bin/st" ]; then
    if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
        echo "installing python3-venv (for schemathesis)"
        export DEBIAN_FRONTEND=noninteractive
        $SUDO apt-get update -qq
        $SUDO apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
    fi
    echo "installing schemathesis into $schemathesis_venv"
    python3 -m venv "$schemathesis_venv"
    "$schemathesis_venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==4.32.5"
fi
redis_answers() { timeout 1 bash -c 'exec 3<>/dev/tcp/127.0.0.1/6379' 2>/dev/null; }
if ! redis_answers; then
    echo "starting redis-server on 127.0.0.1:6379 (no persistence)"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
    for _ in $(seq 50); do redis_answers && break; sleep 0.1; done
fi
echo "chromium: $(chromium --version 2>/dev/null || echo missing)"
echo "chromedriver: $(chromedriver --version 2>/dev/null || echo missing)"
echo "php: $(php -n -r 'echo PHP_VERSION;' 2>/dev/null || echo missing)"
echo "cargo-deb: $(cargo deb --version 2>/dev/null || echo missing)"
echo "schemathesis: $("$schemathesis_venv/bin/st" --version 2>/dev/null || echo missing)"
echo "redis: $(redis_answers && echo "answering on 127.0.0.1:6379" || echo "not answering on 127.0.0.1:6379")"
