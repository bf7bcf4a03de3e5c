#!/bin/sh
# Idempotent install of every Debian package vmsim needs to build, test and run.
# Works as root or through sudo; does nothing when everything is already there.
set -eu

PKGS="build-essential cmake pkg-config clang libclang-rt-14-dev clang-format
libuv1-dev libprotobuf-c-dev protobuf-c-compiler libsqlite3-dev sqlite3
libcurl4-openssl-dev libhttp-parser-dev libjansson-dev libcmocka-dev libreadline-dev libssl-dev
zlib1g-dev
curl jq python3 tmux docker-compose chromium nodejs npm"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

if [ -n "$missing" ]; then
	echo "setup: installing:$missing"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi

# Browser tests drive Debian's chromium through playwright-core from the npm registry.
here="$(cd "$(dirname "$0")/.." && pwd)"
if [ -f "$here/tests/browser/package.json" ] && [ ! -d "$here/tests/browser/node_modules/playwright-core" ]; then
	(cd "$here/tests/browser" && npm install --no-audit --no-fund --silent)
fi
echo "setup: ok"
