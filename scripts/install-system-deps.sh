#!/usr/bin/env bash
# System packages the project needs beyond Python wheels (run as root on Debian).
set -euo pipefail
need=()
command -v make >/dev/null || need+=(make)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -q
  apt-get install -y -q "${need[@]}"
fi
