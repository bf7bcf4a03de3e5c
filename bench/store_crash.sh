#!/bin/sh
# Full crash test: 20 kill -9's of a loaded vmsimd, each followed by a restart that must hold
# every acknowledged op, equal a replay from scratch, and pass --check (tests/store/crash_test.py;
# ctest runs the same script with 5 kills). Usage: bench/store_crash.sh [BUILD] [KILLS]
set -eu
BUILD="${1:-build}"
exec python3 "$(dirname "$0")/../tests/store/crash_test.py" "$BUILD/server/vmsimd" --kills "${2:-20}"
