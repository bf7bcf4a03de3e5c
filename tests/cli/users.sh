#!/bin/bash
# End-to-end with authentication: the real vmsimd (not --open) with an admin made by
# --init-admin, and the real vmsimctl: user add/ls/token/revoke, login, whoami, ownership
# (a student sees only their own machines), machine export/import/share, usage errors.
VMSIMD=$1
CTL=$2
SRC=$3
. "$SRC/tests/cli/lib.sh"
TMPD=$(mktemp -d)
export HOME=$TMPD/home XDG_CONFIG_HOME= VMSIM_TOKEN= VMSIM_MACHINE=
mkdir -p "$HOME"
DB=$TMPD/vmsim.db
ADMIN=$("$VMSIMD" --db "$DB" --init-admin 2>"$TMPD/init.err" | grep -o 'vmsim_[0-9a-f]\{64\}')
if [ -z "$ADMIN" ]; then
	echo "vmsimd --init-admin printed no token:" >&2
	cat "$TMPD/init.err" >&2
	exit 1
fi
"$VMSIMD" --listen 127.0.0.1:0 --log-level warn --db "$DB" >"$TMPD/vmsimd.log" 2>&1 &
SRV_PID=$!
trap 'kill $SRV_PID 2>/dev/null; wait $SRV_PID 2>/dev/null; rm -rf "$TMPD"' EXIT
for _ in $(seq 100); do
	grep -q 'listening on' "$TMPD/vmsimd.log" && break
	sleep 0.05
done
PORT=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$TMPD/vmsimd.log")
if [ -z "$PORT" ]; then
	echo "vmsimd did not start:" >&2
	cat "$TMPD/vmsimd.log" >&2
	exit 1
fi
export VMSIM_SERVER=http://127.0.0.1:$PORT
ctl() { "$CTL" "$@"; }
adm() { "$CTL" --token "$ADMIN" "$@"; }
tok() { "$CTL" -o text "$@" | cut -f4; }

# ---- no token / bad token: unauthenticated, exit 1 -----------------------------------------
expect_rc "no token" 1 "Error (unauthenticated)" ctl whoami
expect_rc "unknown token" 1 "Error (unauthenticated)" ctl --token "vmsim_$(printf '%064d' 0)" whoami
expect "admin whoami" 0 "admin (admin, id 1)" adm whoami

# ---- users: admin adds an instructor, the instructor two students ------------------------------
INS=$(tok --token "$ADMIN" user add ines --role instructor)
CHECKS=$((CHECKS + 1))
[[ $INS =~ ^vmsim_[0-9a-f]{64}$ ]] || _fail "user add prints the instructor's token: '$INS'"
printf 'sam\n\n# a comment\nsue\n' >"$TMPD/class.txt"
run "$CTL" --token "$INS" user add --file "$TMPD/class.txt"
CHECKS=$((CHECKS + 1))
[ "$RC" = 0 ] && [ "$(awk 'NR>1{print $1, $2, $3}' "$OUT")" = "$(printf '3 sam student\n4 sue student')" ] ||
	_fail "user add --file: rc $RC $(cat "$OUT" "$ERR")"
expect_rc "user add taken (all or none)" 1 "Error (" adm user add zed sam
expect "user ls" 0 "$(printf '%s\n' \
	'ID  NAME   ROLE        CLASS  MACHINES  RAM' \
	' 1  admin  admin           -         0   0B' \
	' 2  ines   instructor      -         0   0B' \
	' 3  sam    student         2         0   0B' \
	' 4  sue    student         2         0   0B')" adm user ls
expect_json "user ls json" '.users | length' 4 adm -o json user ls
expect "instructor ls sees class" 0 "$(printf 'ines\nsam\nsue')" bash -c "\"$CTL\" --token $INS -o text user ls | cut -f2"

# ---- token + login ---------------------------------------------------------------------------
SAM=$(adm user token sam 2>"$TMPD/tokid")
CHECKS=$((CHECKS + 1))
[[ $SAM =~ ^vmsim_[0-9a-f]{64}$ ]] || _fail "user token prints only the token: '$SAM'"
SAM_TID=$(sed -n 's/^token \([0-9]*\) for sam .*/\1/p' "$TMPD/tokid")
expect "login (arg)" 0 "Logged in as sam (student)" ctl login "$SAM"
expect "config keeps token" 0 "token = $SAM" grep '^token' "$HOME/.config/vmsim/config"
expect "whoami after login" 0 "sam (student, id 3)" ctl whoami
SUE=$(adm user token sue 2>/dev/null)
expect "login (stdin)" 0 "Logged in as sue (student)" bash -c "echo $SUE | \"$CTL\" login"
expect "login switches" 0 "sue (student, id 4)" ctl whoami
expect_rc "login rejects bad token" 1 "Error (unauthenticated)" ctl login "vmsim_$(printf '%064d' 1)"
expect "bad login keeps the old token" 0 "sue (student, id 4)" ctl whoami

# ---- ownership: each student sees only their own machines -------------------------------------
SAM_M=$(ctl --token "$SAM" -o text machine create --mem 8M --seed 3)
SUE_M=$(ctl -o text machine create --mem 8M --seed 4)
expect "sam machine ls" 0 "$SAM_M" bash -c "\"$CTL\" --token $SAM -o text machine ls | cut -f1"
expect "sue machine ls" 0 "$SUE_M" bash -c "\"$CTL\" -o text machine ls | cut -f1"
expect_rc "student touching another's machine" 1 "Error (not_found)" ctl -m "$SAM_M" alloc-pages 0
expect_rc "student reading another's machine" 1 "Error (not_found)" ctl -m "$SAM_M" cat /proc/buddyinfo
expect_rc "student cannot add users" 1 "Error (permission_denied)" ctl user add eve

# ---- share: the instructor's machine read-only for the class --------------------------------
INS_M=$(ctl --token "$INS" -o text machine create --mem 8M)
expect "share" 0 "machine $INS_M shared read-only with your class" ctl --token "$INS" machine share "$INS_M"
run "$CTL" -m "$INS_M" cat /proc/buddyinfo
CHECKS=$((CHECKS + 1))
[ "$RC" = 0 ] || _fail "student reads a shared machine: rc $RC $(cat "$ERR")"
expect_rc "shared is read-only" 1 "Error (" ctl -m "$INS_M" alloc-pages 0
expect "unshare" 0 "machine $INS_M no longer shared" ctl --token "$INS" machine share --off "$INS_M"
expect_rc "unshared is gone" 1 "Error (not_found)" ctl -m "$INS_M" cat /proc/buddyinfo

# ---- revoke: the token stops working at once -----------------------------------------------
expect "revoke" 0 "token $SAM_TID revoked" adm user revoke "$SAM_TID"
expect_rc "revoked token fails" 1 "Error (unauthenticated)" ctl --token "$SAM" machine ls

# ---- export / import: the same machine state ---------------------------------------------------
ctl -m "$SUE_M" alloc-pages 2 >/dev/null
ctl -m "$SUE_M" kmalloc 4K >/dev/null
ctl -m "$SUE_M" spawn a >/dev/null
ctl -m "$SUE_M" cat /proc/buddyinfo >"$TMPD/before"
run ctl -m "$SUE_M" machine export "$TMPD/m.vmsim"
CHECKS=$((CHECKS + 1))
[ "$RC" = 0 ] && [ -s "$TMPD/m.vmsim" ] || _fail "export: rc $RC $(cat "$ERR")"
NEW_M=$(ctl -o text machine import "$TMPD/m.vmsim")
CHECKS=$((CHECKS + 1))
[ -n "$NEW_M" ] && [ "$NEW_M" != "$SUE_M" ] || _fail "import gives a new machine: '$NEW_M'"
expect "imported buddyinfo identical" 0 "$(cat "$TMPD/before")" ctl -m "$NEW_M" cat /proc/buddyinfo
expect_rc "import garbage" 1 "Error (" ctl machine import /etc/hostname

# ---- usage errors: exit 2 -------------------------------------------------------------------
expect_rc "user add no names" 2 "give at least one NAME" adm user add
expect_rc "user add bad role" 2 "bad --role 'boss'" adm user add x --role boss
expect_rc "user add missing file" 2 "cannot read --file" adm user add --file "$TMPD/none"
expect_rc "user token no name" 2 "missing" adm user token
expect_rc "user token extra" 2 "unexpected argument" adm user token a b
expect_rc "user revoke bad id" 2 "bad TOKEN_ID 'x'" adm user revoke x
expect_rc "user revoke none" 2 "missing" adm user revoke
expect_rc "user token unknown" 1 "Error (not_found)" adm user token nobody
expect_rc "export no file" 2 "missing" ctl -m "$SUE_M" machine export
expect_rc "export no machine" 2 "no machine selected" ctl machine export "$TMPD/x"
expect_rc "import no file" 2 "missing FILE" ctl machine import
expect_rc "import unreadable" 2 "cannot read" ctl machine import "$TMPD/none"
expect_rc "login empty stdin" 2 "no token on stdin" bash -c "\"$CTL\" login </dev/null"
expect_rc "whoami extra" 2 "unexpected argument" ctl whoami x

echo "$CHECKS checks, $FAILS failures"
[ "$FAILS" = 0 ]
