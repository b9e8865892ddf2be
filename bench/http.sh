#!/usr/bin/env bash
# HTTP load benchmark: keygate against nginx on one machine.
# Installs nginx, wrk (Debian) and oha (crates.io) when missing, builds
# keygate in release mode, then runs bench/load.py. Environment knobs:
# DURATION (seconds per run, default 10), CONNECTIONS (64), REPS (3),
# CREDENTIALS (10000), BASELINE (a git ref: also build keygate at that
# commit and measure it in the same run, e.g. BASELINE=HEAD~1, to show what
# a change costs as a ratio), KEYGATE_BENCH_REDIS_URL (the Redis the
# rate-limited gateway run counts in, default redis://127.0.0.1:6379; when
# nothing answers there, a throwaway redis-server is started on port 6379 and
# stopped at the end), PAIR_ROUNDS (8; 0 skips them) and PAIR_SECONDS (3)
# for the paired client-scope and usage-counter runs, SCOPE_ONLY=1 or
# USAGE_ONLY=1 (run only those pairs). CREDENTIALS above 10000 (e.g.
# CREDENTIALS=1000000) also reports start-up and RSS and compares the
# gateway with one serving 10000. See docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v nginx >/dev/null || need_apt+=(nginx)
command -v wrk >/dev/null || need_apt+=(wrk)
command -v redis-server >/dev/null || need_apt+=(redis-server)
if [ ${#need_apt[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
command -v oha >/dev/null || cargo install oha --locked --quiet

cleanup=()
trap 'for step in "${cleanup[@]}"; do eval "$step"; done' EXIT

redis_url="${KEYGATE_BENCH_REDIS_URL:-redis://127.0.0.1:6379}"
if ! redis-cli -u "$redis_url" ping >/dev/null 2>&1; then
    [ -z "${KEYGATE_BENCH_REDIS_URL:-}" ] || { echo "no Redis at $redis_url" >&2; exit 1; }
    redis_dir="$(mktemp -d)"
    redis-server --bind 127.0.0.1 --port 6379 --save '' --appendonly no --daemonize yes \
        --dir "$redis_dir" --pidfile "$redis_dir/redis.pid" --logfile "$redis_dir/redis.log"
    cleanup+=('kill "$(cat "$redis_dir/redis.pid")"; rm -rf "$redis_dir"')
    for _ in $(seq 50); do
        redis-cli -u "$redis_url" ping >/dev/null 2>&1 && break
        sleep 0.1
    done
fi

cargo build --release --quiet -p keygate --bin keygate --example bench_seed
if [ -n "${BASELINE:-}" ]; then
    tree="$(mktemp -d)/keygate-baseline"
    git worktree add --quiet --detach "$tree" "$BASELINE"
    cleanup+=('git worktree remove --force "$tree"')
    cargo build --release --quiet --manifest-path "$tree/Cargo.toml" -p keygate --bin keygate \
        --example bench_seed --target-dir target/baseline
    export KEYGATE_BASELINE_BIN=target/baseline/release/keygate BASELINE
    export KEYGATE_BASELINE_SEED=target/baseline/release/examples/bench_seed
fi
python3 bench/load.py "$@"
