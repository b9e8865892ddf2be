#!/usr/bin/env bash
# keygate at scale: seeds a SQLite (or PostgreSQL) database with CREDENTIALS credentials
# (one real one made through the Manager, the rest SQL copies of its row:
# crates/keygate/examples/scale_seed.rs), starts `keygate serve` on it and
# measures, with the command behind each figure:
#   - start-up: spawn to the first allowed /v1/authorize of the real
#     credential, and the server's RSS then (/proc/PID/status);
#   - every CLI command of the scale targets: wall time and max RSS
#     (/usr/bin/time -f '%e %M'), against the same database while the
#     server runs; the median of REPS runs;
#   - change-to-visible latency: from `credential generate` returning to
#     the first allowed /v1/authorize of the new credential, and from
#     `credential disable` returning to the first denial (polling every
#     10 ms), median of VISIBLE runs;
#   - the server's RSS after CHANGES changes (CLI disable/enable) against
#     its RSS at start.
# Writes nothing into the repository: everything lives in a temp dir that
# is removed on exit.
#
#   bash bench/scale.sh                      # 1,000,000 credentials
#   CREDENTIALS=100000 bash bench/scale.sh
#   AUDIT_EVENTS=0 bash bench/scale.sh       # no audit trail beyond the real credential's
#   DATABASE=postgres bash bench/scale.sh    # a scratch database on PG_SERVER (dropped at exit)
#   KEYGATE_BIN=/path/to/keygate SEED_BIN=/path/to/scale_seed bash bench/scale.sh
set -euo pipefail
cd "$(dirname "$0")/.."

CREDENTIALS=${CREDENTIALS:-1000000}
# sqlite (a file in the temp dir) or postgres (a scratch database on PG_SERVER).
DATABASE=${DATABASE:-sqlite}
PG_SERVER=${PG_SERVER:-postgres://postgres@127.0.0.1:5432}
# credential.generate events in the audit trail, one per copied credential
# (a database grown through keygate has at least one per credential);
# 0 for none.
AUDIT_EVENTS=${AUDIT_EVENTS:-$CREDENTIALS}
REPS=${REPS:-3}
VISIBLE=${VISIBLE:-5}
CHANGES=${CHANGES:-100}
# Seconds to wait for the server to answer, and for a change to show.
START_TIMEOUT=${START_TIMEOUT:-120}
VISIBLE_TIMEOUT=${VISIBLE_TIMEOUT:-60}

if [[ ! -x /usr/bin/time ]]; then
    echo "installing Debian's time package for /usr/bin/time" >&2
    (apt-get install -y time >/dev/null 2>&1) ||
        (apt-get update >/dev/null && apt-get install -y time >/dev/null)
fi

if [[ -z "${KEYGATE_BIN:-}" || -z "${SEED_BIN:-}" ]]; then
    cargo build --release -p keygate --bin keygate --example scale_seed
fi
KEYGATE_BIN=${KEYGATE_BIN:-$PWD/target/release/keygate}
SEED_BIN=${SEED_BIN:-$PWD/target/release/examples/scale_seed}

WORK=$(mktemp -d -t keygate-scale.XXXXXX)
SERVER_PID=
PG_DB=
cleanup() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [[ -n "$PG_DB" ]]; then
        psql "$PG_SERVER/postgres" -qc "DROP DATABASE IF EXISTS $PG_DB" >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
# Commands run in the temp dir, so no keygate.toml of the caller's is read.
cd "$WORK"
case "$DATABASE" in
    sqlite) export KEYGATE_DATABASE_URL="sqlite://$WORK/scale.db" ;;
    postgres)
        PG_DB="keygate_scale_$$"
        psql "$PG_SERVER/postgres" -qc "CREATE DATABASE $PG_DB" >/dev/null
        export KEYGATE_DATABASE_URL="$PG_SERVER/$PG_DB"
        ;;
    *)
        echo "DATABASE must be sqlite or postgres" >&2
        exit 2
        ;;
esac
unset KEYGATE_CONFIG

# ---- the probe: /v1/authorize over one keep-alive connection ----
cat >"$WORK/probe.py" <<'PY'
"""Polls /v1/authorize every 10 ms.

probe.py URL wait ID SECRET TIMEOUT        -> prints the unix time (s) of the first allowed answer
probe.py URL visible-generate TIMEOUT CMD… -> runs CMD (credential generate --json), prints ms to allowed
probe.py URL visible-disable ID SECRET TIMEOUT CMD… -> runs CMD, prints ms to the first denial
"""
import http.client, json, subprocess, sys, time

URL = sys.argv[1]
HOST, PORT = URL.split(":")
ACTION = "GetClients"
conn = None


def allowed(identifier, secret):
    """The answer's `allowed`, or None while the server does not answer."""
    global conn
    body = json.dumps({"identifier": identifier, "secret": secret, "action": ACTION})
    try:
        if conn is None:
            conn = http.client.HTTPConnection(HOST, int(PORT), timeout=5)
        conn.request("POST", "/v1/authorize", body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        data = response.read()
        if response.status == 429:
            sys.exit(f"throttled: {data!r}")
        return bool(json.loads(data).get("allowed"))
    except (OSError, http.client.HTTPException, ValueError):
        if conn is not None:
            conn.close()
        conn = None
        return None


def poll(identifier, secret, want, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if allowed(identifier, secret) is want:
            return True
        time.sleep(0.01)
    return False


mode = sys.argv[2]
if mode == "wait":
    identifier, secret, timeout = sys.argv[3], sys.argv[4], float(sys.argv[5])
    if not poll(identifier, secret, True, timeout):
        sys.exit("the real credential was never allowed")
    print(f"{time.time():.6f}")
elif mode == "visible-generate":
    timeout, command = float(sys.argv[3]), sys.argv[4:]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    returned = time.monotonic()
    new = json.loads(out)
    if not poll(new["identifier"], new["secret"], True, timeout):
        sys.exit("the generated credential never became usable")
    print(f"{(time.monotonic() - returned) * 1000:.0f}")
elif mode == "visible-disable":
    identifier, secret, timeout = sys.argv[3], sys.argv[4], float(sys.argv[5])
    command = sys.argv[6:]
    if not poll(identifier, secret, True, timeout):
        sys.exit("the credential to disable is not allowed to begin with")
    subprocess.run(command, check=True, capture_output=True)
    returned = time.monotonic()
    if not poll(identifier, secret, False, timeout):
        sys.exit("the disabled credential was never denied")
    print(f"{(time.monotonic() - returned) * 1000:.0f}")
else:
    sys.exit(f"unknown mode {mode}")
PY

median() { sort -n | awk '{v[NR]=$1} END {if (NR % 2) print v[(NR+1)/2]; else printf "%.3f\n", (v[NR/2]+v[NR/2+1])/2}'; }
rss_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
mb() { awk -v kb="$1" 'BEGIN {printf "%.0f MB", kb/1024}'; }

ROWS=()
row() { ROWS+=("$1"$'\t'"$2"$'\t'"$3"); }

# ---- seed ----
echo "seeding $CREDENTIALS credentials into $KEYGATE_DATABASE_URL" >&2
seed_started=$(date +%s.%N)
# To a file, not `read < <(…)`: the seeding must be over before the server starts.
"$SEED_BIN" "$KEYGATE_DATABASE_URL" "$CREDENTIALS" "$AUDIT_EVENTS" >"$WORK/seed.out"
read -r REAL_ID REAL_SECRET <"$WORK/seed.out"
seed_secs=$(awk -v a="$seed_started" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b-a}')
if [[ $DATABASE == sqlite ]]; then
    size_mb=$(du -m "$WORK/scale.db" | cut -f1)
else
    size_mb=$(psql "$KEYGATE_DATABASE_URL" -tAc "SELECT pg_database_size(current_database()) / 1048576")
fi
row "seed $CREDENTIALS credentials, $AUDIT_EVENTS audit events" "${seed_secs} s, ${size_mb} MB database" \
    "scale_seed \$KEYGATE_DATABASE_URL $CREDENTIALS $AUDIT_EVENTS"

# ---- start-up ----
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL="127.0.0.1:$PORT"
export KEYGATE_LISTEN="$URL"
# No throttle (the polls ask for unknown identifiers), no limit in the way.
export KEYGATE_FAILED_AUTH_PER_MINUTE=0
export KEYGATE_RATE_LIMIT_DEFAULT=1000000/s
spawned=$(date +%s.%N)
"$KEYGATE_BIN" serve >"$WORK/serve.log" 2>&1 &
SERVER_PID=$!
if ! first=$(python3 "$WORK/probe.py" "$URL" wait "$REAL_ID" "$REAL_SECRET" "$START_TIMEOUT"); then
    tail -20 "$WORK/serve.log" >&2
    exit 1
fi
rss_start=$(rss_kb "$SERVER_PID" VmRSS)
hwm_start=$(rss_kb "$SERVER_PID" VmHWM)
startup=$(awk -v a="$spawned" -v b="$first" 'BEGIN {printf "%.2f", b-a}')
row "start-up to first allowed call" "${startup} s" "keygate serve; POST /v1/authorize (real credential)"
row "server RSS at start (VmRSS / VmHWM)" "$(mb "$rss_start") / $(mb "$hwm_start")" "/proc/PID/status"

# ---- CLI commands ----
# run_timed CMD...: runs keygate CMD under /usr/bin/time; sets WALL
# (seconds, from the clock around it: %e only has 10 ms steps) and RSS (KB).
run_timed() {
    local started ended
    started=$(date +%s%N)
    if ! /usr/bin/time -f '%e %M' -o "$WORK/time" "$KEYGATE_BIN" "$@" >"$WORK/out" 2>"$WORK/err"; then
        echo "failed: keygate $*" >&2
        cat "$WORK/err" >&2
        exit 1
    fi
    ended=$(date +%s%N)
    WALL=$(awk -v a="$started" -v b="$ended" 'BEGIN {printf "%.3f", (b-a)/1e9}')
    RSS=$(awk '{print $2}' "$WORK/time")
}

# timed NAME CMD...: median wall time and max RSS of REPS runs; the last
# run's stdout is in $WORK/out.
timed() {
    local name=$1
    shift
    local walls=() rsss=() i
    for ((i = 0; i < REPS; i++)); do
        run_timed "$@"
        walls+=("$WALL")
        rsss+=("$RSS")
    done
    local wall rss
    wall=$(printf '%s\n' "${walls[@]}" | median)
    rss=$(printf '%s\n' "${rsss[@]}" | median)
    row "$name" "${wall} s, $(mb "$rss")" "keygate $(printf '%q ' "$@")"
}

generate() {
    "$KEYGATE_BIN" --json credential generate --admin scale --role "Support Desk" --description "$1"
}
pair_of() { python3 -c 'import json, sys; d = json.load(sys.stdin); print(d["identifier"], d["secret"])'; }
json_field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

timed "credential show" credential show "$REAL_ID"
timed "credential generate" credential generate --admin scale --role "Support Desk" --description timed
# The edits work on a credential of their own, not the real one.
NEW=$(generate "edited" | json_field identifier)
timed "credential edit" credential edit "$NEW" --description "edited again"
timed "credential disable" credential disable "$NEW"
timed "credential enable" credential enable "$NEW"
timed "credential rotate" credential rotate "$NEW" --overlap 0
timed "credential usage" credential usage "$REAL_ID"
timed "role show" role show "Support Desk"
# role create needs a fresh name per run: timed by hand.
walls=() rsss=()
for ((i = 0; i < REPS; i++)); do
    run_timed role create "Scale Role $i" --allow GetClients
    walls+=("$WALL")
    rsss+=("$RSS")
done
row "role create" "$(printf '%s\n' "${walls[@]}" | median) s, $(mb "$(printf '%s\n' "${rsss[@]}" | median)")" \
    "keygate role create \"Scale Role N\" --allow GetClients"
timed "role edit" role edit "Support Desk" --description "edited"
timed "admin list" admin list
timed "audit" audit
timed "audit --target (one credential)" audit --target "$REAL_ID"
timed "audit --actor" audit --actor system
timed "credential generate (no --role)" credential generate --admin scale
# delete needs a fresh credential per run.
walls=() rsss=()
for ((i = 0; i < REPS; i++)); do
    victim=$(generate "to delete" | json_field identifier)
    run_timed credential delete "$victim"
    walls+=("$WALL")
    rsss+=("$RSS")
done
row "credential delete" "$(printf '%s\n' "${walls[@]}" | median) s, $(mb "$(printf '%s\n' "${rsss[@]}" | median)")" \
    "keygate credential delete ID"

# ---- change-to-visible ----
lat=()
for ((i = 0; i < VISIBLE; i++)); do
    lat+=("$(python3 "$WORK/probe.py" "$URL" visible-generate "$VISIBLE_TIMEOUT" \
        "$KEYGATE_BIN" --json credential generate --admin scale --role "Support Desk")")
done
row "generate -> usable (median of $VISIBLE)" "$(printf '%s\n' "${lat[@]}" | median) ms (${lat[*]})" \
    "keygate credential generate; poll /v1/authorize every 10 ms"
lat=()
for ((i = 0; i < VISIBLE; i++)); do
    pair=$(generate "to disable" | pair_of)
    read -r id secret <<<"$pair"
    lat+=("$(python3 "$WORK/probe.py" "$URL" visible-disable "$id" "$secret" "$VISIBLE_TIMEOUT" \
        "$KEYGATE_BIN" credential disable "$id")")
done
row "disable -> denied (median of $VISIBLE)" "$(printf '%s\n' "${lat[@]}" | median) ms (${lat[*]})" \
    "keygate credential disable ID; poll /v1/authorize every 10 ms"

# ---- RSS after changes ----
pair=$(generate "toggled" | pair_of)
read -r TOGGLE TOGGLE_SECRET <<<"$pair"
python3 "$WORK/probe.py" "$URL" wait "$TOGGLE" "$TOGGLE_SECRET" "$VISIBLE_TIMEOUT" >/dev/null
rss_before=$(rss_kb "$SERVER_PID" VmRSS)
changes_started=$(date +%s.%N)
for ((i = 0; i < CHANGES; i++)); do
    if ((i % 2)); then
        "$KEYGATE_BIN" credential enable "$TOGGLE" >/dev/null
    else
        "$KEYGATE_BIN" credential disable "$TOGGLE" >/dev/null
    fi
done
changes_secs=$(awk -v a="$changes_started" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b-a}')
# The last change must be in the snapshot before RSS is read: an even
# count ends enabled, an odd one disabled.
if ((CHANGES % 2)); then want=disabled; else want=enabled; fi
if [[ $want == enabled ]]; then
    python3 "$WORK/probe.py" "$URL" wait "$TOGGLE" "$TOGGLE_SECRET" "$VISIBLE_TIMEOUT" >/dev/null
fi
sleep 2
rss_after=$(rss_kb "$SERVER_PID" VmRSS)
hwm_after=$(rss_kb "$SERVER_PID" VmHWM)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2fx", a/b}'; }
row "server RSS after $CHANGES changes / before them" \
    "$(mb "$rss_after") / $(mb "$rss_before") = $(ratio "$rss_after" "$rss_before") (VmHWM $(mb "$hwm_after"); changes took ${changes_secs} s)" \
    "keygate credential disable|enable ID, $CHANGES times"
row "server RSS after $CHANGES changes / at start-up" \
    "$(mb "$rss_after") / $(mb "$rss_start") = $(ratio "$rss_after" "$rss_start")" \
    "(the start-up figure is taken at the first allowed call)"

# ---- report ----
echo
echo "keygate scale benchmark: $CREDENTIALS credentials ($DATABASE), $(nproc) CPUs, $(date -u +%Y-%m-%dT%H:%MZ)"
{
    printf 'what\tfigure\tcommand\n'
    printf -- '---\t---\t---\n'
    printf '%s\n' "${ROWS[@]}"
} | awk -F'\t' '{w[NR] = $1; f[NR] = $2; c[NR] = $3; if (length($1) > a) a = length($1); if (length($2) > b) b = length($2)}
    END {for (i = 1; i <= NR; i++) printf "%-*s  %-*s  %s\n", a, w[i], b, f[i], c[i]}'
