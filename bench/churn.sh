#!/usr/bin/env bash
# The hot path while changes are applied: /v1/authorize throughput of
# `keygate serve` on CREDENTIALS credentials (default 1,000,000, SQLite,
# seeded by crates/keygate/examples/scale_seed.rs) while the CLI changes a
# credential 10 times a second (disable, enable, ...), against the same run
# with the same CLI load reading instead (`credential show` 10 times a
# second), so the ratio is the server's cost of applying the changes, not
# the cost of the CLI processes sharing the machine. The server runs on CPU
# 0 and wrk on CPU 1; ROUNDS (4) rounds of DURATION (8) s each, alternating.
# Also prints idle throughput (no CLI at all) for reference. Writes nothing
# into the repository.
#
#   bash bench/churn.sh
#   CREDENTIALS=100000 ROUNDS=6 bash bench/churn.sh
set -euo pipefail
cd "$(dirname "$0")/.."

CREDENTIALS=${CREDENTIALS:-1000000}
ROUNDS=${ROUNDS:-4}
SECONDS_PER_RUN=${DURATION:-8}
PORT=${PORT:-18790}

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release --quiet -p keygate --bin keygate --example scale_seed
BIN=$PWD/target/release/keygate
SEED=$PWD/target/release/examples/scale_seed

WORK=$(mktemp -d -t keygate-churn.XXXXXX)
SERVER=
cleanup() {
    [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK"
export KEYGATE_DATABASE_URL="sqlite://$WORK/churn.db"
unset KEYGATE_CONFIG

echo "seeding $CREDENTIALS credentials" >&2
# The seeder prints the real credential first, then copies it: let it finish.
"$SEED" "$KEYGATE_DATABASE_URL" "$CREDENTIALS" 0 >seed.out
read -r ID SECRET <seed.out
cat >post.lua <<EOF
wrk.method = "POST"
wrk.body   = '{"identifier":"$ID","secret":"$SECRET","action":"GetClients"}'
wrk.headers["Content-Type"] = "application/json"
EOF
TOGGLED=$("$BIN" --json credential generate --admin scale --role "Support Desk" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["identifier"])')

KEYGATE_LISTEN=127.0.0.1:$PORT KEYGATE_FAILED_AUTH_PER_MINUTE=0 \
    KEYGATE_RATE_LIMIT_DEFAULT=1000000/s taskset -c 0 "$BIN" serve >serve.log 2>&1 &
SERVER=$!
URL=http://127.0.0.1:$PORT/v1/authorize
until curl -s -o /dev/null -X POST -H 'content-type: application/json' \
    -d "{\"identifier\":\"$ID\",\"secret\":\"$SECRET\",\"action\":\"GetClients\"}" "$URL"; do
    sleep 0.2
done

# 10 CLI commands a second for $1 seconds: `changes` or `reads`.
cli_load() {
    local end=$((SECONDS + $2))
    while [ "$SECONDS" -lt "$end" ]; do
        case $1 in
            changes)
                "$BIN" credential disable "$TOGGLED" >/dev/null
                sleep 0.09
                "$BIN" credential enable "$TOGGLED" >/dev/null
                ;;
            reads)
                "$BIN" credential show "$ID" >/dev/null
                sleep 0.09
                "$BIN" credential show "$ID" >/dev/null
                ;;
        esac
        sleep 0.09
    done
}

# Requests per second of one wrk run.
rps() {
    taskset -c 1 wrk -t1 -c32 -d"${SECONDS_PER_RUN}s" -s post.lua "$URL" |
        awk '/Requests\/sec/ { print $2 }'
}

idle=$(rps)
echo "idle (no CLI): $idle requests/s"
echo "round  reads-rps  changes-rps  changes/reads"
for round in $(seq "$ROUNDS"); do
    cli_load reads $((SECONDS_PER_RUN + 1)) &
    load=$!
    sleep 0.5
    reads=$(rps)
    wait "$load"
    cli_load changes $((SECONDS_PER_RUN + 1)) &
    load=$!
    sleep 0.5
    changes=$(rps)
    wait "$load"
    printf '%5s  %9s  %11s  %.3f\n' "$round" "$reads" "$changes" "$(echo "$changes / $reads" | bc -l)"
done
curl -s "http://127.0.0.1:$PORT/metrics" | grep 'keygate_snapshot_updates_total{'
