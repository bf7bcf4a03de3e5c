#!/bin/sh
# Seeds a demo classroom on a running vmsimd, with vmsimctl only (what a teacher would type):
# an instructor, three students, one machine per student replaying an example trace, and an
# instructor machine shared read-only with the class. Prints every token once and keeps them in
# STATE_DIR/demo-tokens.txt (mode 0600) so that a restart prints the same table instead of
# seeding twice. Used by docker/compose.yaml (seed service) and by tests/docker/test_seed.sh.
# PUBLIC_URL is the address printed for people (in compose, the port published on the host);
# the script itself talks to SERVER (there, vmsimd on the compose network).
#
#   seed-demo.sh --server URL (--admin-token TOKEN | --admin-token-file FILE)
#                [--public-url URL] [--examples DIR] [--state-dir DIR] [--vmsimctl PATH]
set -eu

SERVER="http://127.0.0.1:8080"
PUBLIC_URL=""
ADMIN_TOKEN=""
ADMIN_TOKEN_FILE=""
EXAMPLES="examples"
STATE_DIR="."
VMSIMCTL="vmsimctl"

usage() {
	sed -n '10,11p' "$0" >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case "$1" in
	--server) SERVER="$2"; shift 2 ;;
	--admin-token) ADMIN_TOKEN="$2"; shift 2 ;;
	--admin-token-file) ADMIN_TOKEN_FILE="$2"; shift 2 ;;
	--public-url) PUBLIC_URL="$2"; shift 2 ;;
	--examples) EXAMPLES="$2"; shift 2 ;;
	--state-dir) STATE_DIR="$2"; shift 2 ;;
	--vmsimctl) VMSIMCTL="$2"; shift 2 ;;
	*) usage ;;
	esac
done
[ -n "$ADMIN_TOKEN" ] || [ -n "$ADMIN_TOKEN_FILE" ] || usage
PUBLIC_URL="${PUBLIC_URL:-$SERVER}"
PUBLIC_URL="${PUBLIC_URL%/}"

TOKENS="$STATE_DIR/demo-tokens.txt"
banner() {
	echo "=================================================================="
	echo " vmsim demo classroom"
	echo " dashboard: $PUBLIC_URL/   (paste a token in the dashboard's login)"
	echo " CLI:       VMSIM_SERVER=$PUBLIC_URL VMSIM_TOKEN=<token> vmsimctl machine ls"
	echo "=================================================================="
	cat "$TOKENS"
}
if [ -s "$TOKENS" ]; then
	echo "seed-demo: classroom already seeded"
	banner
	exit 0
fi

# vmsimctl as a given user; -o json for values read back, text otherwise.
ctl() {
	tok="$1"
	shift
	"$VMSIMCTL" --server "$SERVER" --token "$tok" "$@"
}
json_field() { jq -er "$1"; }

# Waits up to 30 s for /healthz (the compose file already gates on health; tests do not).
i=0
until curl -fsS "${SERVER%/}/healthz" >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -lt 60 ] || { echo "seed-demo: $SERVER is not healthy" >&2; exit 3; }
	sleep 0.5
done
# The server writes the admin token before it listens, so it is there once /healthz answers
# (in compose the seed may start before vmsimd's first start has made it).
[ -z "$ADMIN_TOKEN_FILE" ] || ADMIN_TOKEN="$(tr -d ' \n' <"$ADMIN_TOKEN_FILE")"

umask 077
tmp="$TOKENS.tmp"
printf '%-12s %-10s %s\n' USER ROLE TOKEN >"$tmp"

instr_token="$(ctl "$ADMIN_TOKEN" -o json user add teacher --role instructor | json_field ".users[0].token")"
printf '%-12s %-10s %s\n' teacher instructor "$instr_token" >>"$tmp"

# Each example trace creates its own machine (its first op is `machine create`); it is the
# newest (highest id) of the machines the user can see, which include those shared with them.
replay() {
	ctl "$1" run "$EXAMPLES/$2.trace" >/dev/null
	ctl "$1" -o json machine ls | json_field '.machines | max_by(.id[1:] | tonumber) | .id'
}

# The instructor's own machine: the buddy allocator lesson, shared read-only with the class.
mid="$(replay "$instr_token" buddy)"
ctl "$instr_token" machine share "$mid" >/dev/null

# The class exercise (buddy, seed 4242): the instructor's answer key, then alice answers it
# right and bob wrong, so `vmsimctl exercise results` and the dashboard's Exercises tab show
# the instructor something.
key="$(ctl "$instr_token" -o json exercise solve buddy --seed 4242 | json_field '[.answers[].value] | join(" ")')"

# Students, each with a machine replaying one seed section.
for pair in alice:cow-fork bob:demand-paging carol:swap-free; do
	user="${pair%%:*}"
	trace="${pair#*:}"
	tok="$(ctl "$instr_token" -o json user add "$user" --role student | json_field ".users[0].token")"
	printf '%-12s %-10s %s\n' "$user" student "$tok" >>"$tmp"
	replay "$tok" "$trace" >/dev/null
	case "$user" in
	alice) ctl "$tok" exercise answer buddy --seed 4242 $key >/dev/null ;;
	bob) ctl "$tok" exercise answer buddy --seed 4242 0x0 0x0 >/dev/null || [ $? -eq 1 ] ;;
	esac
done

mv "$tmp" "$TOKENS"
echo "seed-demo: seeded 1 instructor, 3 students, 4 machines"
banner
