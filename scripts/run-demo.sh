#!/bin/sh
# `make run`: start vmsimd with a demo machine (falls back to the core demo before the server exists).
set -eu
BUILD="${1:-build}"
if [ -x "$BUILD/server/vmsimd" ]; then
	exec "$BUILD/server/vmsimd" --demo --open --listen "${VMSIM_LISTEN:-127.0.0.1:8080}"
fi
exec "$BUILD/core_demo"
