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
version=$(node -p 'require("./node_modules/hls.js/package.json").version')
cp node_modules/hls.js/dist/hls.min.js "$dest/hls.min.js"
{
  echo "# package version sha256 file (written by scripts/vendor-web.sh)"
  echo "hls.js $version $(sha256sum "$dest/hls.min.js" | cut -d' ' -f1) hls.min.js"
} > "$dest/VENDOR.txt"
cat "$dest/VENDOR.txt"
