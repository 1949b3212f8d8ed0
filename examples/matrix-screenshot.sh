#!/usr/bin/env bash
# Renders the access matrix as HTML and screenshots it with headless Chromium, offline
# (Debian: apt-get install chromium).
# Usage: examples/matrix-screenshot.sh [OUT.png [matrix options, e.g. --migrations DIR]]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${1:-target/access-matrix.png}"
shift || true
page="$(mktemp --suffix=.html)"
trap 'rm -f "$page"' EXIT
cargo run --release --quiet -- matrix --format html --output "$page" "$@"
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
	--window-size=1400,1600 --screenshot="$out" "file://$page" 2>/dev/null
echo "wrote $out"
