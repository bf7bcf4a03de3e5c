#!/bin/sh
# Makes the base images docker/Dockerfile starts from, `debian:12` and `debian:12-slim`, in
# podman's image store without a container registry: `debootstrap --variant=minbase bookworm`
# from the Debian mirror, tidied the way Debian's official images are (no downloaded packages or
# package lists, the bookworm, bookworm-updates and bookworm-security sources), and for -slim
# also without documentation, manual pages and translations, with dpkg told to keep them out
# (what debuerreotype-slimify does for the official debian:12-slim). Each root file system is
# kept as a tarball in CACHE, so only the first run pays for debootstrap; an image already in
# the store (imported earlier, or pulled from a registry) is left as it is.
#   debian_base.sh CACHE [MIRROR]      (root: debootstrap needs it)
set -eu
CACHE="$1"
MIRROR="${2:-http://deb.debian.org/debian}"
SUITE=bookworm

log() { echo "debian_base: $*"; }

# Official-image tidying shared by both variants.
tidy_rootfs() {
	r="$1"
	rm -rf "$r"/var/cache/apt/archives/*.deb "$r"/var/cache/apt/*.bin "$r"/var/lib/apt/lists/*
	rm -f "$r"/etc/apt/sources.list "$r"/etc/hostname "$r"/etc/resolv.conf
	cat >"$r/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${MIRROR%/debian}/debian-security
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
	# As in the official images: apt keeps no downloaded packages, no translations, and does
	# not install Suggests as dependencies of autoremoval.
	cat >"$r/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
	echo 'Acquire::Languages "none";' >"$r/etc/apt/apt.conf.d/docker-no-languages"
	echo 'Apt::AutoRemove::SuggestsImportant "false";' >"$r/etc/apt/apt.conf.d/docker-autoremove-suggests"
}

slimify_rootfs() {
	r="$1"
	cat >"$r/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
EOF
	find "$r/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
	find "$r/usr/share/doc" -mindepth 1 -type d -empty -delete
	rm -rf "$r"/usr/share/groff/* "$r"/usr/share/info/* "$r"/usr/share/linda/* \
		"$r"/usr/share/lintian/overrides/* "$r"/usr/share/locale/* "$r"/usr/share/man/*
}

# Builds CACHE/debian-12.tar and CACHE/debian-12-slim.tar once; concurrent runs wait on a lock.
make_tarballs() {
	[ -s "$CACHE/debian-12.tar" ] && [ -s "$CACHE/debian-12-slim.tar" ] && return 0
	work="$(mktemp -d "$CACHE/work.XXXXXX")"
	trap 'rm -rf "$work"' EXIT
	log "debootstrap --variant=minbase $SUITE from $MIRROR (cached in $CACHE afterwards)"
	start=$(date +%s)
	debootstrap --variant=minbase "$SUITE" "$work/rootfs" "$MIRROR" >"$work/debootstrap.log" 2>&1 || {
		tail -20 "$work/debootstrap.log" >&2
		exit 1
	}
	log "debootstrap took $(($(date +%s) - start)) s"
	tidy_rootfs "$work/rootfs"
	tar -C "$work/rootfs" --numeric-owner --xattrs -cf "$work/debian-12.tar" .
	slimify_rootfs "$work/rootfs"
	tar -C "$work/rootfs" --numeric-owner --xattrs -cf "$work/debian-12-slim.tar" .
	mv "$work/debian-12.tar" "$work/debian-12-slim.tar" "$CACHE/"
	rm -rf "$work"
	trap - EXIT
}

import_image() {
	name="$1"
	tarball="$2"
	if podman image exists "$name"; then
		log "$name: already in podman's store"
		return 0
	fi
	podman import -q --change 'CMD ["bash"]' "$tarball" "$name" >/dev/null
	log "$name: imported from $tarball ($(du -h "$tarball" | cut -f1))"
}

mkdir -p "$CACHE"
if ! podman image exists debian:12 || ! podman image exists debian:12-slim; then
	(
		flock 9
		make_tarballs
	) 9>"$CACHE/lock"
	import_image debian:12 "$CACHE/debian-12.tar"
	import_image debian:12-slim "$CACHE/debian-12-slim.tar"
else
	log "debian:12 and debian:12-slim: already in podman's store"
fi
