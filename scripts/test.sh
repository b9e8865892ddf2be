#!/usr/bin/env bash
# Runs every test of the workspace: unit tables, store tests (SQLite, and
# PostgreSQL when reachable), CLI and server end-to-end tests, and the
# admin UI in headless Chromium, then the Debian package. Tests that need
# PostgreSQL, ChromeDriver or root and cargo-deb print a SKIPPED notice when
# those are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
# Two cores: keep concurrent test binaries from starving each other.
export RUST_TEST_THREADS="${RUST_TEST_THREADS:-4}"
cargo test --workspace --locked "$@"

# The management API against its own OpenAPI document, with schemathesis
# (scripts/test-api-schema.sh; SKIPPED without it unless
# KEYGATE_TEST_SCHEMA_REQUIRED=1). It runs the debug binary just tested.
bash scripts/test-api-schema.sh

# The Debian package: build, install, check, purge (scripts/test-package.sh;
# needs root, dpkg and cargo-deb, else SKIPPED unless
# KEYGATE_TEST_PACKAGE_REQUIRED=1). After a full run it packages the debug
# binary `cargo test` just built and ran, so it compiles nothing and takes
# seconds; with arguments (a partial run) it builds `-p keygate` first.
deb_profile="${KEYGATE_DEB_PROFILE:-dev}"
if [ "$#" -eq 0 ] && [ "$deb_profile" = dev ]; then
    export KEYGATE_DEB_NO_BUILD="${KEYGATE_DEB_NO_BUILD:-1}"
fi
KEYGATE_DEB_PROFILE="$deb_profile" bash scripts/test-package.sh
