#!/usr/bin/env bash
# Copies the pinned front-end files from npm into static/vendor/ and the
# tracker into static/op1.js (committed).
# Re-run after changing a version; CI re-runs it and fails if the result
# differs from what is committed.
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# package@version  file-in-package  destination (under static/)
files=(
  "htmx.org@2.0.11 dist/htmx.min.js vendor/htmx.min.js"
  "htmx-ext-sse@2.2.4 dist/sse.min.js vendor/htmx-ext-sse.min.js"
  "echarts@5.6.0 dist/echarts.min.js vendor/echarts.min.js"
  # OpenPanel's browser tracker, served at /op1.js for tracked sites: the
  # version the compatibility tests use (tests/npm.go WebPackage).
  "@openpanel/web@1.4.1 dist/src/tracker.global.js op1.js"
)
for entry in "${files[@]}"; do
  read -r pkg file dest <<<"$entry"
  dir="$tmp/${pkg//[@\/]/_}"
  mkdir -p "$dir"
  (cd "$dir" && npm pack --silent "$pkg" >/dev/null && tar xzf ./*.tgz)
  src="$dir/package/$file"
  if [ ! -f "$src" ]; then
    # htmx-ext-sse ships sse.js (no min build) in some versions
    alt="$dir/package/$(dirname "$file")/$(basename "$file" .min.js).js"
    [ -f "$alt" ] && src="$alt" || { echo "missing $file in $pkg" >&2; exit 1; }
  fi
  cp "$src" "$dest"
  echo "vendored $pkg -> static/$dest"
done
