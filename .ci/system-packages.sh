#!/usr/bin/env bash
# Installs the Debian packages the test suite uses (listed in .ci/apt-packages.txt, one a line:
# chromium for the browser tests, jq/curl/openssl for the shell signing recipe, postgresql
# for the shared-house tests, which start throwaway clusters of their own, ...).
# Does nothing when they are all present. Needs root or sudo.
set -euo pipefail
list="$(dirname "$0")/apt-packages.txt"
[ -s "$list" ] || exit 0
missing=()
while read -r pkg; do
    pkg="${pkg%%#*}"
    pkg="$(echo "$pkg" | xargs)"
    [ -n "$pkg" ] || continue
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done <"$list"
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing Debian packages: ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
