#!/usr/bin/env bash
# Runs every test of the workspace: unit tables, store tests (SQLite, and
# PostgreSQL when reachable), CLI and server end-to-end tests, and the
# admin UI in headless Chromium. Tests that need PostgreSQL or ChromeDriver
# print a SKIPPED notice when those are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
# Two cores: keep concurrent test binaries from starving each other.
export RUST_TEST_THREADS="${RUST_TEST_THREADS:-4}"
cargo test --workspace --locked "$@"
