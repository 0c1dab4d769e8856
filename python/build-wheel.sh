#!/usr/bin/env bash
# Builds the teamster wheel (the `teamster` binary, the Python package and the time-travel
# preload library) into python/dist/, from the workspace's existing debug build.
#
# Why the debug build: CI already compiles `target/debug/teamster` and
# `libteamster_clock.so` for the Rust tests, and a second, release compile of wasmtime
# costs about 15 minutes on CI's 2 cores. maturin's `--profile dev` runs cargo on the same
# target directory with the same profile, so cargo finds everything fresh and only the
# packaging is left. TEAMSTER_WHEEL_PROFILE=release builds a release wheel instead (for
# publishing; slow).
#
# Usage: python/build-wheel.sh            (prints the wheel's path on its last line)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
profile="${TEAMSTER_WHEEL_PROFILE:-dev}"
case "$profile" in
    dev) profile_dir=debug ;;
    *) profile_dir="$profile" ;;
esac
target="${CARGO_TARGET_DIR:-$root/target}"
python="${PYTHON:-python3}"

# maturin itself, in a private venv so the machine's Python stays untouched.
tools="$root/target/python-build-tools"
if [ ! -x "$tools/bin/maturin" ]; then
    echo "==> installing maturin into $tools" >&2
    "$python" -m venv "$tools"
fi
if [ ! -x "$tools/bin/wheel" ]; then
    "$tools/bin/pip" install --quiet --disable-pip-version-check 'maturin>=1.5,<2' 'wheel>=0.40'
fi

# The preload library is a separate cdylib the binary finds at
# <dir of exe>/../lib/teamster/; in a venv that is <venv>/lib/teamster/, which is where a
# wheel's `<name>.data/data/lib/teamster/` files land. cargo builds it with the workspace
# (a no-op when CI's `cargo build` ran already).
echo "==> cargo build --profile $profile (teamster, teamster-clock)" >&2
cargo build --locked --profile "$profile" -p teamster -p teamster-clock >&2
lib="$target/$profile_dir/libteamster_clock.so"
if [ ! -f "$lib" ]; then
    echo "error: $lib is missing after the build" >&2
    exit 1
fi
data="$here/build/teamster.data/data/lib/teamster"
rm -rf "$here/build/teamster.data"
mkdir -p "$data"
cp "$lib" "$data/"

echo "==> maturin build --profile $profile" >&2
raw="$here/build/raw"
rm -rf "$raw" "$here/build/unpacked" "$here/dist"
cd "$here"
# --compatibility linux: the wheel is for this machine's kind (glibc Linux, x86-64) and is
# installed here and in CI; a manylinux audit would only rename it.
# No --strip: maturin strips by relinking the binary with other flags, which rewrites
# target/debug/teamster (and its backtraces) under the Rust tests. The wheel's copy is
# stripped below instead, and the uncompressed ("stored") first pass keeps that cheap.
"$tools/bin/maturin" build --profile "$profile" --locked --compatibility linux \
    --compression-method stored --out "$raw" >&2
built="$(ls "$raw"/teamster-*.whl)"

echo "==> stripping the wheel's binary of its debug info" >&2
"$tools/bin/wheel" unpack --dest "$here/build/unpacked" "$built" >&2
bin="$(ls "$here"/build/unpacked/teamster-*/teamster-*.data/scripts/teamster)"
if command -v strip >/dev/null; then
    # Debug info only: the symbol table stays, so a backtrace still names functions.
    strip --strip-debug "$bin"
    strip --strip-debug "$(dirname "$bin")/../data/lib/teamster/libteamster_clock.so"
fi
mkdir -p "$here/dist"
"$tools/bin/wheel" pack --dest-dir "$here/dist" "$(dirname "$(dirname "$(dirname "$bin")")")" >&2
wheel="$(ls "$here"/dist/teamster-*.whl)"
echo "$wheel"
