#!/bin/sh
# Runs the docker demo's own scripts outside a container: docker/entrypoint.sh `serve` (first
# start creates the admin, then vmsimd in the foreground) and `seed URL` (docker/seed-demo.sh),
# with the binaries and files laid out under the names the Dockerfile gives them. Then checks
# the classroom a student would find: users and roles, one machine each with its trace
# replayed, the instructor's machine shared read-only, tokens kept 0600, a second seed run
# seeding nothing, and everything still there after the server restarts on the same volume.
#   test_seed.sh SRC BUILD
set -eu
SRC="$1"
BUILD="$2"
T=$(mktemp -d)
SRV_PID=
stop_server() {
	[ -z "$SRV_PID" ] && return 0
	kill "$SRV_PID" 2>/dev/null || true
	wait "$SRV_PID" 2>/dev/null || true
	SRV_PID=
}
trap 'stop_server; rm -rf "$T"' EXIT
fail() {
	echo "FAIL: $*" >&2
	[ -f "$T/vmsimd.log" ] && sed 's/^/  vmsimd: /' "$T/vmsimd.log" >&2
	exit 1
}

# The image's layout: /usr/local/bin names, web/ and examples/ copies, the data volume.
mkdir -p "$T/bin" "$T/data" "$T/home"
ln -s "$BUILD/server/vmsimd" "$T/bin/vmsimd"
ln -s "$BUILD/client/vmsimctl" "$T/bin/vmsimctl"
ln -s "$SRC/docker/entrypoint.sh" "$T/bin/vmsim-entrypoint"
ln -s "$SRC/docker/seed-demo.sh" "$T/bin/vmsim-seed-demo"
export PATH="$T/bin:$PATH" HOME="$T/home" XDG_CONFIG_HOME= VMSIM_TOKEN= VMSIM_MACHINE=
export VMSIM_DB="$T/data/vmsim.db" VMSIM_LISTEN=127.0.0.1:0 VMSIM_WEB="$SRC/web" \
	VMSIM_EXAMPLES="$SRC/examples"

start_server() {
	: >"$T/vmsimd.log"
	sh "$T/bin/vmsim-entrypoint" serve --log-level warn >>"$T/vmsimd.log" 2>&1 &
	SRV_PID=$!
	for _ in $(seq 200); do
		grep -q 'listening on' "$T/vmsimd.log" && break
		sleep 0.05
	done
	PORT=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$T/vmsimd.log")
	[ -n "$PORT" ] || fail "entrypoint serve did not start vmsimd"
	URL="http://127.0.0.1:$PORT"
}

start_server
[ -s "$T/data/admin.token" ] || fail "first start did not keep the admin token"
[ "$(stat -c %a "$T/data/admin.token")" = 600 ] || fail "admin.token is not mode 600"
grep -q 'created the admin user' "$T/vmsimd.log" || fail "first start did not say it made the admin"
ADMIN=$(cat "$T/data/admin.token")
# The admin token file must hold the token and nothing else (seed-demo reads it whole).
[ "$(wc -l <"$T/data/admin.token")" -eq 1 ] || fail "admin.token has more than the token"
ctl() { vmsimctl --server "$URL" "$@"; }
[ "$(ctl --token "$ADMIN" -o json whoami | jq -r .user.role)" = ROLE_ADMIN ] ||
	fail "admin.token is not an admin token: $(ctl --token "$ADMIN" -o json whoami)"

# compose sets VMSIM_PUBLIC_URL to the published port: that is what the banner shows people,
# while the script reaches the server at URL.
VMSIM_PUBLIC_URL=http://localhost:18080/ sh "$T/bin/vmsim-entrypoint" seed "$URL" >"$T/seed1.out" 2>&1 || {
	cat "$T/seed1.out" >&2
	fail "seed failed"
}
grep -q 'seeded 1 instructor, 3 students, 4 machines' "$T/seed1.out" || fail "no seed summary"
grep -q '^ dashboard: http://localhost:18080/ ' "$T/seed1.out" || fail "banner lacks the public URL"
grep -q '^ CLI:       VMSIM_SERVER=http://localhost:18080 ' "$T/seed1.out" || fail "CLI line lacks the public URL"
grep -q "$URL" "$T/seed1.out" && fail "banner shows the internal URL $URL"
TOK="$T/data/demo-tokens.txt"
[ "$(stat -c %a "$TOK")" = 600 ] || fail "demo-tokens.txt is not mode 600"
[ "$(awk 'NR>1{print $1":"$2}' "$TOK" | tr '\n' ' ')" = \
	"teacher:instructor alice:student bob:student carol:student " ] || fail "token table: $(cat "$TOK")"
tok_of() { awk -v u="$1" '$1==u{print $3}' "$TOK"; }
# The seed output is what compose prints: every token must be in it.
for u in teacher alice bob carol; do
	grep -q "$(tok_of $u)" "$T/seed1.out" || fail "seed output lacks $u's token"
done

# Roles as the server sees them.
users=$(ctl --token "$ADMIN" -o json user ls)
for pair in teacher:INSTRUCTOR alice:STUDENT bob:STUDENT carol:STUDENT; do
	u=${pair%%:*}
	r=${pair#*:}
	echo "$users" | jq -e --arg u "$u" --arg r "$r" \
		'[.users[] | select(.name == $u) | .role | ascii_upcase | test($r)] == [true]' \
		>/dev/null || fail "user $u is not $r: $users"
done

# Each student owns one machine named after the trace it replayed, with the trace's effects.
check_student() {
	user=$1
	trace=$2
	t=$(tok_of "$user")
	ms=$(ctl --token "$t" -o json machine ls)
	# Their own machine and the instructor's shared lesson machine, nothing else.
	[ "$(echo "$ms" | jq -c '[.machines[].name] | sort')" = "$(printf '["buddy","%s"]' "$3")" ] ||
		fail "$user should see buddy and $3: $ms"
	mid=$(echo "$ms" | jq -r --arg n "$3" '.machines[] | select(.name == $n) | .id')
	[ -n "$mid" ] || fail "$user has no machine $3: $ms"
	# Replaying the same trace on a fresh machine locally must give the same /proc/vmstat.
	seq=$(ctl --token "$t" -o json machine show "$mid" | jq -r .seq)
	ctl --token "$t" --machine "$mid" cat /proc/vmstat >"$T/$user.vmstat" || fail "$user cat vmstat"
	ctl --token "$t" run "$SRC/examples/$trace.trace" >/dev/null
	fresh=$(ctl --token "$t" -o json machine ls | jq -r '.machines | max_by(.id[1:] | tonumber) | .id')
	[ "$fresh" != "$mid" ] || fail "replaying $trace did not create a machine"
	ctl --token "$t" --machine "$fresh" cat /proc/vmstat >"$T/$user.fresh"
	cmp -s "$T/$user.vmstat" "$T/$user.fresh" || fail "$user's machine does not match a replay of $trace"
	fseq=$(ctl --token "$t" -o json machine show "$fresh" | jq -r .seq)
	[ "$seq" -gt 0 ] && [ "$seq" = "$fseq" ] || fail "$user's $trace machine at seq $seq, a replay at $fseq"
	ctl --token "$t" machine rm "$fresh" >/dev/null
}
check_student alice cow-fork cow
check_student bob demand-paging demand
check_student carol swap-free swap

# The lesson machine: owned by the instructor, readable by a student, not writable by one.
lesson=$(ctl --token "$(tok_of teacher)" -o json machine ls |
	jq -r '.machines[] | select(.name == "buddy") | .id')
[ -n "$lesson" ] || fail "no buddy lesson machine"
ctl --token "$(tok_of alice)" --machine "$lesson" cat /proc/buddyinfo >"$T/alice.buddy" ||
	fail "a student cannot read the shared lesson machine"
ctl --token "$(tok_of teacher)" --machine "$lesson" cat /proc/buddyinfo >"$T/teacher.buddy"
cmp -s "$T/alice.buddy" "$T/teacher.buddy" || fail "shared view differs from the owner's"
set +e
ctl --token "$(tok_of alice)" --machine "$lesson" alloc-pages 0 >"$T/deny.out" 2>&1
rc=$?
set -e
[ $rc -eq 1 ] || fail "a student wrote to the read-only lesson machine (exit $rc)"
grep -q 'permission_denied' "$T/deny.out" || fail "read-only refusal does not say permission_denied"

# The class exercise: alice right, bob wrong, carol nothing; the instructor sees both, a student
# only their own row.
res=$(ctl --token "$(tok_of teacher)" -o json exercise results --topic buddy |
	jq -c '[.results[] | [.user, .attempts, .correct, .lastSeed]]')
[ "$res" = '[["alice","1","1","4242"],["bob","1","0","4242"]]' ] || fail "class exercise results: $res"
res=$(ctl --token "$(tok_of bob)" -o json exercise results | jq -c '[.results[].user]')
[ "$res" = '["bob"]' ] || fail "a student's results: $res"

# Seeding again seeds nothing and prints the same tokens.
sh "$T/bin/vmsim-entrypoint" seed "$URL" >"$T/seed2.out" 2>&1 || fail "second seed failed"
grep -q 'already seeded' "$T/seed2.out" || fail "second seed did not notice the classroom"
grep -q "^ dashboard: $URL/ " "$T/seed2.out" || fail "without VMSIM_PUBLIC_URL the banner shows $URL"
[ "$(ctl --token "$ADMIN" -o json user ls | jq '.users | length')" = 5 ] || fail "second seed added users"

# Restart on the same volume: no new admin, the same machines at the same state.
before=$(ctl --token "$(tok_of alice)" -o json machine ls | jq -S '[.machines[] | {name, seq}]')
stop_server
start_server
grep -q 'created the admin user' "$T/vmsimd.log" && fail "restart created a second admin"
[ "$(cat "$T/data/admin.token")" = "$ADMIN" ] || fail "restart replaced the admin token"
after=$(ctl --token "$(tok_of alice)" -o json machine ls | jq -S '[.machines[] | {name, seq}]')
[ "$before" = "$after" ] || fail "machines changed across restart: $before vs $after"
ctl --token "$(tok_of alice)" --machine "$lesson" cat /proc/buddyinfo | cmp -s - "$T/teacher.buddy" ||
	fail "lesson machine changed across restart"
echo "docker seed: ok"
