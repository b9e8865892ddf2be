#!/usr/bin/env bash
# Builds keygate's Debian package: target/debian/keygate_VERSION-1_ARCH.deb
# (its path is all this prints on stdout). Needs cargo-deb
# (`cargo install cargo-deb --version 3.8.0 --locked`, as
# scripts/install-test-deps.sh does).
#
#   scripts/build-deb.sh                         # release build: what to ship
#   KEYGATE_DEB_PROFILE=dev scripts/build-deb.sh # the debug build (tests)
#   scripts/build-deb.sh --fast                  # extra arguments go to cargo deb
#
# Steps: build `keygate` with the profile (skipped with KEYGATE_DEB_NO_BUILD=1:
# package the binary already in target/PROFILE/), generate the shell
# completions and the man page from that binary into
# target/PROFILE/packaging/, then `cargo deb -p keygate --no-build`, which
# takes the binary, those files and packaging/ as listed in
# [package.metadata.deb] of crates/keygate/Cargo.toml.
#
# KEYGATE_DEB_PROFILE is a Cargo profile: `release` (the default; a full
# optimized build, about 3.5 minutes from scratch on two cores) or `dev`
# (reuses what `cargo build`/`cargo test` already built; cargo-deb warns
# that dev packages are not for release, which they are not: they are for
# scripts/test-package.sh). cargo-deb strips the binary; for `release`, whose
# profile keeps line tables (debug = 1), the debug symbols go to a separate
# target/debian/keygate-dbgsym_VERSION-1_ARCH.ddeb (--dbgsym; install it
# next to the package for symbolized backtraces and profiles): the .deb
# stays at about 5 MB.
set -euo pipefail
cd "$(dirname "$0")/.."

profile="${KEYGATE_DEB_PROFILE:-release}"
case "$profile" in
    dev | debug) profile=dev profile_dir=debug ;;
    *) profile_dir="$profile" ;;
esac

if ! cargo deb --version >/dev/null 2>&1; then
    echo "error: cargo-deb is not installed: cargo install cargo-deb --locked" >&2
    exit 1
fi

# The target directory cargo really uses (CARGO_TARGET_DIR, .cargo/config).
target_dir="$(cargo metadata --format-version 1 --no-deps --locked |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
bin="$target_dir/$profile_dir/keygate"

if [ "${KEYGATE_DEB_NO_BUILD:-0}" = 1 ]; then
    if [ ! -x "$bin" ]; then
        echo "error: KEYGATE_DEB_NO_BUILD=1 but $bin does not exist" >&2
        exit 1
    fi
    echo "== packaging the existing $bin" >&2
else
    echo "== cargo build --profile $profile -p keygate" >&2
    cargo build --locked --profile "$profile" -p keygate >&2
fi

assets="$target_dir/$profile_dir/packaging"
echo "== generating completions and the man page into $assets" >&2
mkdir -p "$assets"
"$bin" completions bash >"$assets/keygate.bash"
"$bin" completions zsh >"$assets/_keygate"
"$bin" completions fish >"$assets/keygate.fish"
# -n: no name or time stamp in the header, so the .gz is reproducible.
"$bin" man | gzip -9n >"$assets/keygate.1.gz"

debug_symbols=()
if [ "$profile" = release ]; then debug_symbols=(--dbgsym); fi
echo "== cargo deb -p keygate --profile $profile ${debug_symbols[*]} $*" >&2
# cargo deb prints the path of each file it made: the .deb on stdout, the
# rest (the -dbgsym .ddeb) on stderr.
made="$(cargo deb -p keygate --locked --no-build --profile "$profile" \
    --output "$target_dir/debian/" "${debug_symbols[@]}" "$@")"
grep -v '\.deb$' <<<"$made" >&2 || true
grep '\.deb$' <<<"$made"
