#!/bin/sh
# Installs the Debian packages LMX builds and tests with, if any is missing.
# Needs root (or sudo) only when something must be installed.
set -e
PKGS="make gcc clang libpcre2-dev libjansson-dev libutf8proc-dev libmicrohttpd-dev python3 nodejs npm"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "lmx: installing:$missing" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
