#!/bin/sh
# Validates docker/compose.yaml and docker/Dockerfile without a Docker engine:
#  - `docker-compose config` accepts the file from the repository root (via .env) and from docker/,
#    and both resolve the build context to the repository root;
#  - the services publish 8080, keep the SQLite file on a volume, gate seeding on health;
#  - the Dockerfile builds with scripts/setup.sh, runs as a non-root user, checks /healthz;
#  - every shared library the built binaries need comes from a package the runtime stage installs.
set -eu
SRC="$1"
BUILD="$2"
fail() {
	echo "FAIL: $*" >&2
	exit 1
}

out_root="$(cd "$SRC" && docker-compose config)" || fail "docker-compose config from the repo root"
out_dir="$(cd "$SRC/docker" && docker-compose config)" || fail "docker-compose config from docker/"
[ "$out_root" = "$out_dir" ] || fail "root and docker/ configs differ"

echo "$out_root" | grep -q "context: $SRC\$" || fail "build context is not the repo root"
echo "$out_root" | grep -q "dockerfile: docker/Dockerfile" || fail "dockerfile path"
echo "$out_root" | grep -q "published: 8080" || fail "port 8080 not published"
echo "$out_root" | grep -q "target: 8080" || fail "port 8080 not the target"
echo "$out_root" | grep -q "vmsim-data:/var/lib/vmsim:rw" || fail "no data volume"
echo "$out_root" | grep -q "condition: service_healthy" || fail "seed does not wait for health"
echo "$out_root" | grep -q "http://127.0.0.1:8080/healthz" || fail "healthcheck"
# services vmsimd and seed, nothing else
svcs="$(cd "$SRC" && docker-compose config --services | sort | tr '\n' ' ')"
[ "$svcs" = "seed vmsimd " ] || fail "services are '$svcs'"

DF="$SRC/docker/Dockerfile"
[ "$(grep -c '^FROM debian:12' "$DF")" -eq 2 ] || fail "two debian:12 stages expected"
grep -q '^RUN sh scripts/setup.sh build' "$DF" || fail "build stage must run scripts/setup.sh build"
grep -q '^USER vmsim' "$DF" || fail "runtime user must be non-root"
grep -q '^HEALTHCHECK' "$DF" || fail "no HEALTHCHECK"
grep -q 'healthz' "$DF" || fail "HEALTHCHECK does not probe /healthz"
grep -q '^VOLUME \["/var/lib/vmsim"\]' "$DF" || fail "no volume for the SQLite file"
for f in "$SRC/docker/entrypoint.sh" "$SRC/docker/seed-demo.sh"; do
	sh -n "$f" || fail "syntax error in $f"
done
grep -q '^build)' "$SRC/scripts/setup.sh" || fail "setup.sh has no build mode"

# Runtime libraries: map each library the binaries load to its Debian package, and require that
# package in the runtime stage's apt-get line (so the image starts where the tests passed).
runtime_pkgs="$(sed -n '/^FROM debian:12-slim/,$p' "$DF" | sed -n '/apt-get install/,/rm -rf/p')"
checked=0
BASE_PKGS="libc6 libgcc-s1 libstdc++6 zlib1g libtinfo6 libzstd1 liblzma5 libbz2-1.0 libselinux1
libpcre2-8-0 libacl1 libattr1 libcrypt1 libgmp10 libmd0 libudev1 libsystemd0 libgnutls30
libgcrypt20 liblz4-1 libcap2 libseccomp2 libxxhash0 libdb5.3 libaudit1"
for bin in "$BUILD/server/vmsimd" "$BUILD/client/vmsimctl"; do
	[ -x "$bin" ] || continue
	for lib in $(ldd "$bin" | awk '/=> \//{print $3}'); do
		real="$(readlink -f "$lib")"
		pkg="$(dpkg -S "$real" 2>/dev/null | head -1 | cut -d: -f1)" ||
			pkg="$(dpkg -S "$lib" 2>/dev/null | head -1 | cut -d: -f1)" || true
		[ -n "$pkg" ] || pkg="$(dpkg -S "$lib" 2>/dev/null | head -1 | cut -d: -f1)"
		[ -n "$pkg" ] || continue
		# Libraries of debian:12-slim's own base system (dpkg, apt, bash need them).
		case " $BASE_PKGS " in *" $pkg "*) continue ;; esac
		# Only direct dependencies are named in the Dockerfile; apt pulls in the rest.
		if ! readelf -d "$bin" | grep -q "NEEDED.*\[$(basename "$lib")\]"; then
			continue
		fi
		echo "$runtime_pkgs" | grep -qw -- "$pkg" || fail "$bin needs $(basename "$lib") from $pkg, missing in the runtime stage"
		checked=$((checked + 1))
	done
done
# Tools the image's own scripts call (the HEALTHCHECK and seed-demo.sh: curl, jq) must be in
# the runtime stage too, and the scripts must be executable (COPY keeps the git mode).
for tool in curl jq; do
	echo "$runtime_pkgs" | grep -qw -- "$tool" || fail "the runtime stage lacks $tool"
done
for f in docker/entrypoint.sh docker/seed-demo.sh; do
	if git -C "$SRC" rev-parse --git-dir >/dev/null 2>&1; then
		mode="$(git -C "$SRC" ls-files -s "$f" | cut -d' ' -f1)"
		[ -z "$mode" ] || [ "$mode" = 100755 ] || fail "$f is mode $mode in git, not executable"
	fi
	[ -x "$SRC/$f" ] || fail "$f is not executable"
done
echo "docker.compose: ok ($checked direct runtime libraries checked)"
