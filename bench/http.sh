#!/usr/bin/env bash
# HTTP load benchmark: keygate against nginx on one machine.
# Installs nginx, wrk (Debian) and oha (crates.io) when missing, builds
# keygate in release mode, then runs bench/load.py. Environment knobs:
# DURATION (seconds per run, default 10), CONNECTIONS (64), REPS (3),
# CREDENTIALS (10000). See docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v nginx >/dev/null || need_apt+=(nginx)
command -v wrk >/dev/null || need_apt+=(wrk)
if [ ${#need_apt[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
command -v oha >/dev/null || cargo install oha --locked --quiet

cargo build --release --quiet -p keygate --bin keygate --example bench_seed
exec python3 bench/load.py "$@"
