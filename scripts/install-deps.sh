#!/bin/sh
# Installs the Debian packages LMX builds and tests with, if any is missing.
# Needs root (or sudo) only when something must be installed.
#
# Libraries are checked as Debian packages; tools as commands, so a node/npm
# (or python3) that came from elsewhere is used as it is rather than fought.
set -e
LIBS="libpcre2-dev libjansson-dev libutf8proc-dev libmicrohttpd-dev libsqlite3-dev libyaml-dev libcurl4-openssl-dev libssl-dev libhiredis-dev libgnutls28-dev"
TOOLS="make:make gcc:gcc clang:clang python3:python3 node:nodejs npm:npm promtool:prometheus redis-server:redis-server tmux:tmux openssl:openssl curl:curl valgrind:valgrind"
missing=""
for p in $LIBS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
for t in $TOOLS; do
  command -v "${t%%:*}" >/dev/null 2>&1 || missing="$missing ${t#*:}"
done
[ -z "$missing" ] && exit 0
echo "lmx: installing:$missing" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
