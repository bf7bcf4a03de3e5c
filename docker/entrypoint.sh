#!/bin/sh
# Container entry point. `serve`: on the first start create the admin (its token is kept in the
# data volume, mode 0600, for the seed step), then run vmsimd in the foreground as PID 1.
# `seed URL`: wait for the server, then run the demo seed script (docker/seed-demo.sh); it prints
# VMSIM_PUBLIC_URL (the address published to the host) for people to open, and reaches vmsimd at URL.
# Anything else runs as a command (e.g. `vmsimctl ...`).
set -eu

DATA="$(dirname "${VMSIM_DB:-/var/lib/vmsim/vmsim.db}")"
ADMIN_TOKEN_FILE="$DATA/admin.token"

case "${1:-serve}" in
serve)
	shift || true
	if [ ! -s "$ADMIN_TOKEN_FILE" ]; then
		umask 077
		vmsimd --db "$VMSIM_DB" --init-admin >"$ADMIN_TOKEN_FILE.tmp"
		mv "$ADMIN_TOKEN_FILE.tmp" "$ADMIN_TOKEN_FILE"
		echo "vmsim: created the admin user (token in $ADMIN_TOKEN_FILE on the data volume)"
	fi
	exec vmsimd --db "$VMSIM_DB" --listen "$VMSIM_LISTEN" --web "$VMSIM_WEB" "$@"
	;;
seed)
	exec vmsim-seed-demo --server "${2:-http://127.0.0.1:8080}" --public-url "${VMSIM_PUBLIC_URL:-}" \
		--admin-token-file "$ADMIN_TOKEN_FILE" --examples "$VMSIM_EXAMPLES" --state-dir "$DATA"
	;;
*)
	exec "$@"
	;;
esac
