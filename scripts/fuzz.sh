#!/usr/bin/env bash
# Runs keygate's cargo-fuzz targets (fuzz/, its own workspace) for a bounded
# time each: FUZZ_SECONDS per target (default 60). Not part of CI; run it
# before touching crates/keygate-core/src/params or the server's readers.
#
#   scripts/fuzz.sh                     # every target, 60 s each
#   FUZZ_SECONDS=600 scripts/fuzz.sh    # longer
#   scripts/fuzz.sh params              # only the named targets
#
# Targets: params (query + urlencoded/multipart body -> canonical model ->
# forwarded form, invariants (a)-(d) of docs/security.md) and params_limits
# (the same with the query and body repeated up to 1,100 times, near
# max_input_vars; slower per run).
#
# Only a stable toolchain is installed here, and cargo fuzz passes nightly
# flags (-Zsanitizer, sancov passes): RUSTC_BOOTSTRAP=1 lets stable rustc
# accept them. The build uses AddressSanitizer (FUZZ_SANITIZER=address);
# if that build fails on the toolchain at hand, the script falls back to
# `--sanitizer none` (libFuzzer's coverage and Rust's own checks only: safe
# Rust needs no ASan to catch a panic or an overflow) and says so.
#
# New inputs go to fuzz/corpus/TARGET (ignored by git); the hand-written
# seeds in fuzz/seeds/TARGET are read too. A crash is written to
# fuzz/artifacts/TARGET/ and the script exits non-zero; reproduce it with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run TARGET fuzz/artifacts/TARGET/crash-...
# (from fuzz/) and minimize it with `cargo fuzz tmin TARGET FILE`.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

FUZZ_SECONDS="${FUZZ_SECONDS:-60}"
SANITIZER="${FUZZ_SANITIZER:-address}"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

for target in "${targets[@]}"; do
    echo "== building $target (sanitizer: $SANITIZER)"
    log="$(mktemp)"
    if ! cargo fuzz build --sanitizer "$SANITIZER" "$target" 2>&1 | tee "$log"; then
        # Fall back only when the sanitizer is what failed, not the code.
        if [ "$SANITIZER" = none ] || ! grep -qE '^error.*(sanitizer|nightly|-Z)|__asan|librustc-.*asan' "$log"; then
            rm -f "$log"
            exit 1
        fi
        echo "!! the $SANITIZER build failed on this toolchain; falling back to --sanitizer none"
        SANITIZER=none
        cargo fuzz build --sanitizer none "$target"
    fi
    rm -f "$log"
    corpus=("corpus/$target")
    mkdir -p "corpus/$target"
    if [ -d "seeds/$target" ]; then
        corpus+=("seeds/$target")
    fi
    options=(-max_total_time="$FUZZ_SECONDS" -print_final_stats=1)
    # params_limits shares params.dict.
    for dict in "$target.dict" "${target%%_*}.dict"; do
        if [ -f "$dict" ]; then
            options+=(-dict="$dict")
            break
        fi
    done
    echo "== fuzzing $target for ${FUZZ_SECONDS}s"
    # -print_final_stats: executions, exec/s and coverage for the record.
    cargo fuzz run --sanitizer "$SANITIZER" "$target" "${corpus[@]}" -- "${options[@]}"
done
