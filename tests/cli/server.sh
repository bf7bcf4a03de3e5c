# Starts the real vmsimd on an ephemeral loopback port (sourced by the e2e scripts).
# Sets SRV_PID and VMSIM_SERVER; a trap stops the server by its PID and removes $TMPD.
# The server is started directly (not in a subshell) so that $! is its own PID.
TMPD=$(mktemp -d)
export HOME=$TMPD/home XDG_CONFIG_HOME= VMSIM_TOKEN= VMSIM_MACHINE=
mkdir -p "$HOME"
"$VMSIMD" --listen 127.0.0.1:0 --log-level warn --open --db :memory: >"$TMPD/vmsimd.log" 2>&1 &
SRV_PID=$!
trap 'kill $SRV_PID 2>/dev/null; wait $SRV_PID 2>/dev/null; rm -rf "$TMPD"' EXIT
for _ in $(seq 100); do
	grep -q 'listening on' "$TMPD/vmsimd.log" 2>/dev/null && break
	sleep 0.05
done
PORT=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$TMPD/vmsimd.log")
if [ -z "$PORT" ]; then
	echo "vmsimd did not start:" >&2
	cat "$TMPD/vmsimd.log" >&2
	exit 1
fi
export VMSIM_SERVER=http://127.0.0.1:$PORT
