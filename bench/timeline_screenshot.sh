#!/usr/bin/env bash
# Renders the timeline picture of a real run in headless Chromium and checks the
# screenshot is not empty: the SVG that `teamster timeline --svg` writes must open in a
# browser with no network. Needs Debian's `chromium` package.
#
#   bash bench/timeline_screenshot.sh [OUT.png]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${TEAMSTER_BIN:-$root/target/debug/teamster}"
out="${1:-$root/target/timeline-screenshot.png}"
browser="$(command -v chromium || command -v chromium-browser || true)"
if [ -z "$browser" ]; then
    echo "chromium is not installed (apt-get install chromium)" >&2
    exit 2
fi
work="$(mktemp -d)"
trap 'cd /; "$bin" down >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
cd "$work"
cat > bundle.toml <<'TOML'
[services.db]
command = ["sh", "-c", "sleep 0.3; echo ready; exec sleep 600"]
ready = { log = "ready" }
[services.cache]
command = ["sh", "-c", "echo up; exec sleep 600"]
ready = { log = "up" }
[services.web]
command = ["sh", "-c", "sleep 0.2; echo listening; exec sleep 600"]
ready = { log = "listening" }
needs = ["db", "cache"]
TOML
"$bin" up -d bundle.toml >/dev/null
"$bin" down >/dev/null
"$bin" timeline --svg "$work/timeline.svg" >/dev/null
# --no-sandbox: CI runs as root, where Chromium refuses its sandbox.
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --window-size=1200,500 --screenshot="$out" "file://$work/timeline.svg" >/dev/null 2>&1
size="$(stat -c %s "$out")"
# A blank 1200x500 PNG compresses to well under 5 KB; bars, text and arrows do not.
if [ "$size" -lt 5000 ]; then
    echo "the screenshot $out is $size bytes: blank?" >&2
    exit 1
fi
echo "screenshot: $out ($size bytes)"
