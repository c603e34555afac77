#!/usr/bin/env bash
# System packages the project needs beyond Python wheels (Debian; run as root).
# chromium + chromium-driver: browser tests and PDF export; PostgreSQL 15 + PostGIS 3:
# the store tests on the PostGIS back end.
set -euo pipefail
pkgs=(make chromium chromium-driver postgresql-15 postgresql-15-postgis-3)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
