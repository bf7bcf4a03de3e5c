#!/bin/sh
# Builds the image from docker/Dockerfile and runs docker/compose.yaml, as a user does with
# `docker compose up`, with Debian's daemonless podman and podman-compose:
#  - the base images debian:12 and debian:12-slim come from debootstrap (tests/docker/debian_base.sh,
#    cached), because no container registry is reachable here;
#  - what podman needs on this host (OCI runtime, cgroup manager, explicit ulimits) is found by
#    trying, starting with podman's defaults, and kept in a containers.conf for every call below;
#  - `podman build -f docker/Dockerfile` (timed, image size printed), then `podman-compose up -d`
#    on a free port: /healthz and the dashboard answer on the published port, the seed service
#    exits 0 having created an instructor, three students and their machines and prints the
#    published address, a student's token from its output works with the image's vmsimctl,
#    vmsimd runs as the image's non-root user, and after `down` and `up` the classroom is still
#    there (the named volume) and the seed service seeds nothing twice.
# Where podman cannot run (not root without user namespaces, tools missing) the test says why
# and exits 77, which ctest reports as skipped; with CI=true that is a failure instead.
#   test_container.sh SRC
set -eu
SRC="$(cd "$1" && pwd)"

skip() {
	if [ "${CI:-}" = true ]; then
		echo "FAIL: CI must run the container test, but: $*" >&2
		exit 1
	fi
	echo "SKIP: $*"
	exit 77
}
fail() {
	echo "FAIL: $*" >&2
	if [ -n "${PROJ:-}" ]; then
		for c in vmsimd seed; do
			podman logs "${PROJ}_${c}_1" 2>&1 | sed "s/^/  $c: /" >&2 || true
		done
	fi
	exit 1
}

for tool in podman podman-compose curl jq flock; do
	command -v "$tool" >/dev/null 2>&1 || skip "$tool is not installed (scripts/setup.sh installs it)"
done
if [ "$(id -u)" -ne 0 ]; then
	userns="$(cat /proc/sys/user/max_user_namespaces 2>/dev/null || echo 0)"
	[ "$userns" -gt 0 ] || skip "not root, and user namespaces are off (rootless podman needs them)"
	# Rootless podman can use base images already in the user's store, but cannot make them.
	if ! podman image exists debian:12 2>/dev/null || ! podman image exists debian:12-slim 2>/dev/null; then
		skip "not root: debootstrap cannot make the base images debian:12 and debian:12-slim"
	fi
	CACHE="${VMSIM_CONTAINER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vmsim-container}"
	mkdir -p "$CACHE" 2>/dev/null || skip "not root, and no cache directory $CACHE"
else
	command -v debootstrap >/dev/null 2>&1 || skip "debootstrap is not installed (scripts/setup.sh installs it)"
	CACHE="${VMSIM_CONTAINER_CACHE:-/var/cache/vmsim-container}"
	mkdir -p "$CACHE"
fi

T="$(mktemp -d)"
PROJ=
IMAGE=
cleanup() {
	if [ -n "$PROJ" ]; then
		podman-compose -p "$PROJ" -f "$SRC/docker/compose.yaml" down -v >/dev/null 2>&1 || true
		podman volume rm -f "${PROJ}_vmsim-data" >/dev/null 2>&1 || true
	fi
	[ -z "$IMAGE" ] || podman rmi -f "$IMAGE" >/dev/null 2>&1 || true
	# The layers of this run's build, except those tagged as the cache of the apt steps.
	podman image prune -f >/dev/null 2>&1 || true
	rm -rf "$T"
}

# One run at a time on a machine: runs share podman's store and its build cache.
exec 9>"$CACHE/run.lock"
if ! flock -n 9; then
	echo "container: waiting for another run of this test to finish"
	flock 9
fi
trap cleanup EXIT
trap 'exit 1' INT TERM

# ---- base images ----
sh "$SRC/tests/docker/debian_base.sh" "$CACHE" "${VMSIM_DEBIAN_MIRROR:-http://deb.debian.org/debian}" ||
	fail "could not make the base images"

# ---- what podman needs on this host ----
# Each candidate adds what a known host limitation needs: crun refuses a hybrid cgroup v1
# layout (runc does not), there may be no systemd to manage cgroups, and podman's default
# ulimits for root (nofile 1048576) are refused where the host's limits are lower.
write_conf() { # runtime cgroup_manager ulimits
	{
		echo "[containers]"
		[ -z "$3" ] || echo 'default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]'
		echo "[engine]"
		[ -z "$1" ] || echo "runtime = \"$1\""
		[ -z "$2" ] || echo "cgroup_manager = \"$2\""
	} >"$T/containers.conf"
}
runtimes=""
command -v runc >/dev/null 2>&1 && runtimes="runc"
found=
for rt in "" $runtimes; do
	for cg in "" cgroupfs; do
		for ul in "" ulimits; do
			write_conf "$rt" "$cg" "$ul"
			if CONTAINERS_CONF="$T/containers.conf" podman run --rm --network none debian:12-slim true \
				>"$T/probe.out" 2>&1; then
				found="runtime=${rt:-default} cgroup_manager=${cg:-default} ulimits=${ul:-default}"
				break 3
			fi
			sed 's/^/  probe: /' "$T/probe.out"
		done
	done
done
if [ -z "$found" ]; then
	[ "$(id -u)" -eq 0 ] || skip "podman cannot run a container here as $(id -un): $(tail -1 "$T/probe.out")"
	fail "podman cannot run a container with any known setting: $(tail -1 "$T/probe.out")"
fi
export CONTAINERS_CONF="$T/containers.conf"
echo "container: podman runs here with $found"

# ---- the image ----
IMAGE="localhost/vmsim-test:$$"
start=$(date +%s)
# The docker format keeps the HEALTHCHECK (the OCI format has no field for it).
podman build --format docker -f "$SRC/docker/Dockerfile" -t "$IMAGE" "$SRC" >"$T/build.log" 2>&1 || {
	tail -40 "$T/build.log" >&2
	fail "podman build -f docker/Dockerfile failed"
}
secs=$(($(date +%s) - start))
size=$(podman image inspect --format '{{.Size}}' "$IMAGE")
echo "container: built $IMAGE in $secs s; image size $((size / 1000000)) MB ($size bytes)"
# Keep the two apt steps' layers as the cache of the next run (untagged layers are pruned).
tag_step() { # pattern tag
	id="$(awk -v p="$1" 'index($0, p) {f=1} f && /^--> / {print $2; exit}' "$T/build.log")"
	[ -z "$id" ] || podman tag "$id" "localhost/vmsim-test-cache:$2" >/dev/null 2>&1 || true
}
tag_step "RUN sh scripts/setup.sh build" build-deps
tag_step "RUN apt-get update" runtime-deps

[ "$(podman image inspect --format '{{.Config.User}}' "$IMAGE")" = vmsim ] || fail "the image's user is not vmsim"
podman image inspect --format '{{json .Config.Healthcheck}}' "$IMAGE" | grep -q healthz ||
	fail "the image has no HEALTHCHECK on /healthz"
# The runtime stage ships no compiler and no test tools.
podman run --rm --entrypoint sh "$IMAGE" -c 'command -v cc || command -v cmake || command -v python3' &&
	fail "the runtime image contains build or test tools"

# ---- compose up ----
free_port() {
	p=$((20000 + $$ % 20000))
	while :; do
		rc=0
		curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$p/" || rc=$?
		[ $rc -ne 7 ] || {
			echo "$p"
			return
		}
		p=$((p + 1))
	done
}
PORT="$(free_port)"
PROJ="vmsimtest$$"
export VMSIM_IMAGE="$IMAGE" VMSIM_PORT="$PORT"
URL="http://127.0.0.1:$PORT"
pc() { podman-compose -p "$PROJ" -f "$SRC/docker/compose.yaml" "$@"; }

up() {
	pc up -d >>"$T/compose.log" 2>&1 || {
		cat "$T/compose.log" >&2
		fail "podman-compose up -d failed"
	}
	for _ in $(seq 120); do
		curl -fsS --max-time 2 "$URL/healthz" >/dev/null 2>&1 && return 0
		sleep 0.5
	done
	fail "no /healthz on the published port $PORT"
}
# The seed service's exit code, once it has exited.
seed_exit() {
	for _ in $(seq 240); do
		st="$(podman inspect --format '{{.State.Status}}' "${PROJ}_seed_1" 2>/dev/null || true)"
		if [ "$st" = exited ] || [ "$st" = stopped ]; then
			podman inspect --format '{{.State.ExitCode}}' "${PROJ}_seed_1"
			return
		fi
		sleep 0.5
	done
	fail "the seed service did not finish in 120 s"
}

start=$(date +%s)
up
echo "container: compose up, /healthz answers on :$PORT after $(($(date +%s) - start)) s"
curl -fsS "$URL/" >"$T/index.html" || fail "GET / on the published port"
grep -q '<title>vmsim dashboard</title>' "$T/index.html" || fail "GET / is not the dashboard"

rc="$(seed_exit)"
podman logs "${PROJ}_seed_1" >"$T/seed1.out" 2>&1
[ "$rc" != 3 ] || fail "the seed service could not reach vmsimd by its service name: podman's CNI" \
	"backend needs the dnsname plugin (scripts/setup.sh installs it), netavark needs aardvark-dns"
[ "$rc" = 0 ] || fail "the seed service exited $rc: $(cat "$T/seed1.out")"
grep -q 'seeded 1 instructor, 3 students, 4 machines' "$T/seed1.out" || fail "no seed summary"
# The address printed is the one a user opens, not the compose network's.
grep -q "dashboard: http://localhost:$PORT/" "$T/seed1.out" || fail "seed does not print http://localhost:$PORT/"
grep -q 'vmsimd:8080' "$T/seed1.out" && fail "seed prints the compose-internal address"
tok_of() { awk -v u="$1" '$1 == u && NF == 3 {print $3}' "$T/seed1.out" | tail -1; }
for u in teacher alice bob carol; do
	[ -n "$(tok_of $u)" ] || fail "the seed output has no token for $u"
done

# The image's own vmsimctl, with a token read from the seed's output.
ctl() { podman exec "${PROJ}_vmsimd_1" vmsimctl --server http://127.0.0.1:8080 "$@"; }
[ "$(ctl --token "$(tok_of alice)" -o json whoami | jq -r '.user.name + " " + .user.role')" = \
	"alice ROLE_STUDENT" ] || fail "alice's token: $(ctl --token "$(tok_of alice)" -o json whoami)"
admin="$(podman exec "${PROJ}_vmsimd_1" cat /var/lib/vmsim/admin.token)"
[ "$(ctl --token "$admin" -o json user ls | jq -c '[.users[] | .name + ":" + .role] | sort')" = \
	'["admin:ROLE_ADMIN","alice:ROLE_STUDENT","bob:ROLE_STUDENT","carol:ROLE_STUDENT","teacher:ROLE_INSTRUCTOR"]' ] ||
	fail "users: $(ctl --token "$admin" -o json user ls)"
machines() { ctl --token "$(tok_of "$1")" -o json machine ls | jq -c '[.machines[].name] | sort'; }
[ "$(machines alice)" = '["buddy","cow"]' ] || fail "alice's machines: $(machines alice)"
[ "$(machines bob)" = '["buddy","demand"]' ] || fail "bob's machines: $(machines bob)"
[ "$(machines carol)" = '["buddy","swap"]' ] || fail "carol's machines: $(machines carol)"
# The instructor sees the class's machines as well as the lesson.
[ "$(machines teacher)" = '["buddy","cow","demand","swap"]' ] || fail "teacher's machines: $(machines teacher)"
state() { ctl --token "$(tok_of alice)" -o json machine ls | jq -S -c '[.machines[] | {name, seq}]'; }
before="$(state)"

# vmsimd is PID 1 of its container, as the image's non-root user.
uid="$(podman exec "${PROJ}_vmsimd_1" awk '/^Uid:/ {print $2}' /proc/1/status)"
comm="$(podman exec "${PROJ}_vmsimd_1" cat /proc/1/comm)"
[ "$comm" = vmsimd ] || fail "PID 1 is $comm, not vmsimd"
[ "$uid" = 10001 ] || fail "vmsimd runs as uid $uid, not the image's vmsim user (10001)"

# ---- down and up: the classroom lives on the named volume ----
pc down >>"$T/compose.log" 2>&1 || fail "podman-compose down failed"
podman volume exists "${PROJ}_vmsim-data" || fail "down removed the named volume"
up
rc="$(seed_exit)"
podman logs "${PROJ}_seed_1" >"$T/seed2.out" 2>&1
[ "$rc" = 0 ] || fail "the second seed exited $rc: $(cat "$T/seed2.out")"
grep -q 'already seeded' "$T/seed2.out" || fail "the second up seeded again: $(cat "$T/seed2.out")"
grep -q "$(tok_of alice)" "$T/seed2.out" || fail "the second up does not print the same tokens"
after="$(state)"
[ "$before" = "$after" ] || fail "alice's machines changed across down/up: $before vs $after"
[ "$(podman exec "${PROJ}_vmsimd_1" cat /var/lib/vmsim/admin.token)" = "$admin" ] ||
	fail "down/up replaced the admin"
echo "container: ok (image $((size / 1000000)) MB, built in $secs s, classroom kept across down/up)"
