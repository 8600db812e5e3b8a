#!/usr/bin/env bash
# Refreshes the browser libraries Livehouse serves from embed.FS.
# Versions are pinned in package.json / package-lock.json; this copies their
# built files into internal/web/static/vendor and records their SHA-256 in
# VENDOR.txt, which TestVendoredFilesMatchRecordedHashes checks.
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci --no-audit --no-fund
dest=internal/web/static/vendor
mkdir -p "$dest"
# package, file inside the package, name served under /static/vendor/
files=(
  "hls.js dist/hls.min.js hls.min.js"
  "js-sha256 build/sha256.min.js sha256.min.js"
  "uplot dist/uPlot.iife.min.js uplot.min.js"
  "uplot dist/uPlot.min.css uplot.min.css"
)
echo "# package version sha256 file (written by scripts/vendor-web.sh)" > "$dest/VENDOR.txt"
for entry in "${files[@]}"; do
  read -r pkg src name <<<"$entry"
  version=$(node -p "require('./node_modules/$pkg/package.json').version")
  cp "node_modules/$pkg/$src" "$dest/$name"
  echo "$pkg $version $(sha256sum "$dest/$name" | cut -d' ' -f1) $name" >> "$dest/VENDOR.txt"
done
cat "$dest/VENDOR.txt"
