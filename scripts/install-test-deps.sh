#!/usr/bin/env bash
# Installs what the test suite needs beyond the Rust toolchain: Debian's
# Chromium and ChromeDriver for the admin UI browser tests. PostgreSQL is
# expected at 127.0.0.1:5432 (its tests skip with a notice when it is not).
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
echo "chromium: $(chromium --version 2>/dev/null || echo missing)"
echo "chromedriver: $(chromedriver --version 2>/dev/null || echo missing)"
