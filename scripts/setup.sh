#!/bin/sh
# Idempotent install of every Debian package vmsim needs to build, test and run.
# Works as root or through sudo; does nothing when everything is already there.
# `setup.sh build` installs only what compiling the server and the CLI needs (the docker image's
# build stage, which configures with -DVMSIM_TESTS=OFF); `all` adds the tests' tools, among them
# podman, podman-compose, runc and debootstrap for the test that builds and runs the image (and
# CNI's dnsname plugin, so that compose services reach each other by name).
set -eu

MODE="${1:-all}"

BUILD_PKGS="build-essential cmake pkg-config
libuv1-dev libprotobuf-c-dev protobuf-c-compiler libsqlite3-dev
libcurl4-openssl-dev libhttp-parser-dev libjansson-dev libreadline-dev libssl-dev
zlib1g-dev"

PKGS="$BUILD_PKGS libcmocka-dev clang libclang-rt-14-dev clang-format sqlite3
curl jq python3 tmux wrk docker-compose chromium groff-base valgrind
python3-protobuf protobuf-compiler prometheus
podman podman-compose runc debootstrap golang-github-containernetworking-plugin-dnsname"

case "$MODE" in
all) ;;
build) PKGS="$BUILD_PKGS" ;;
*)
	echo "usage: setup.sh [all|build]" >&2
	exit 2
	;;
esac

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done

# Node.js may come from another repository (with npm inside); only add Debian's when absent.
[ "$MODE" = build ] || command -v npm >/dev/null 2>&1 || missing="$missing nodejs npm"

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

if [ -n "$missing" ]; then
	echo "setup: installing:$missing"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi

# Browser tests drive Debian's chromium through playwright-core from the npm registry.
here="$(cd "$(dirname "$0")/.." && pwd)"
if [ "$MODE" = all ] && [ -f "$here/tests/browser/package.json" ] && [ ! -d "$here/tests/browser/node_modules/playwright-core" ]; then
	(cd "$here/tests/browser" && npm install --no-audit --no-fund --silent)
fi
echo "setup: ok"
