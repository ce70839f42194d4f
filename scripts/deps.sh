#!/usr/bin/env bash
# Installs the Debian packages Confab needs to build and test, once.
# Usage: scripts/deps.sh PKG... (the Makefile passes the list).
set -euo pipefail
missing=()
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "confab: missing Debian packages: ${missing[*]}" >&2
  echo "confab: run as root, or: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "confab: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
