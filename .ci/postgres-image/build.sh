#!/usr/bin/env bash
# Build a local PostgreSQL image that honours the official `postgres` image's
# contract (env vars, entrypoint, log streams, port, stop signal), from Debian
# packages only: no image registry is needed.
#
#   usage: .ci/postgres-image/build.sh [MAJOR [TAG]]
#
# MAJOR is 15 (Debian bookworm's postgresql-15, the default) or 17 (Debian
# trixie's postgresql-17); TAG defaults to rls-harness/postgres:MAJOR.
# Needs root, a running docker daemon and mmdebstrap (apt-get install mmdebstrap).
# Skips the build when TAG already exists (delete it with `docker rmi TAG`).
# Packages come from the same apt mirrors as the host's own (RLS_IMAGE_SOURCES may
# name another sources file, one-line or deb822 style), with the suite names
# swapped for the image's suite, so the image needs no network access the machine
# does not already have.
set -euo pipefail

t0=$EPOCHREALTIME
log() { printf '[build.sh %6ss] %s\n' "$(bc_sub "$EPOCHREALTIME" "$t0")" "$*" >&2; }
bc_sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a - b }'; }

pg_major="${1:-15}"
case "$pg_major" in
15) suite=bookworm ;;
17) suite=trixie ;;
*) log "error: no Debian suite known for PostgreSQL $pg_major (15: bookworm, 17: trixie)"; exit 1 ;;
esac
tag="${2:-rls-harness/postgres:$pg_major}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
host_sources="${RLS_IMAGE_SOURCES:-}"
if [ -z "$host_sources" ]; then
	for candidate in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
		if [ -s "$candidate" ]; then host_sources="$candidate"; break; fi
	done
fi
[ -n "$host_sources" ] || { log "error: no apt sources found; set RLS_IMAGE_SOURCES to a sources file"; exit 1; }

if docker image inspect "$tag" >/dev/null 2>&1; then
	log "image $tag already exists, skipping build"
	exit 0
fi
[ "$(id -u)" = 0 ] || { log "error: must run as root (mmdebstrap root mode)"; exit 1; }
command -v mmdebstrap >/dev/null || { log "error: mmdebstrap missing (apt-get install mmdebstrap)"; exit 1; }

# Everything runs inside the chroot being built ("$1" is its root directory).
# - no main cluster from postgresql-common's postinst (the entrypoint runs initdb)
setup_hook='mkdir -p "$1/etc/postgresql-common/createcluster.d" && echo "create_main_cluster = false" > "$1/etc/postgresql-common/createcluster.d/inhibit_create_main_cluster.conf"'
# - listen on all addresses (as the official image does via the sample conf)
# - directories and ownership the entrypoint expects
# - drop the LLVM JIT (~120 MB; postgres disables JIT quietly when llvmjit.so is absent)
customize_hook=$(cat <<EOF
set -e
sed -ri "s!^#?(listen_addresses)\s*=\s*\S+.*!\1 = '*'!" "\$1/usr/share/postgresql/$pg_major/postgresql.conf.sample"
grep -F "listen_addresses = '*'" "\$1/usr/share/postgresql/$pg_major/postgresql.conf.sample" >/dev/null
mkdir -p "\$1/docker-entrypoint-initdb.d" "\$1/var/lib/postgresql/data" "\$1/var/run/postgresql"
chroot "\$1" chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql
chmod 1777 "\$1/var/lib/postgresql/data"
chmod 3775 "\$1/var/run/postgresql"
install -m 0755 "$here/docker-entrypoint.sh" "\$1/usr/local/bin/docker-entrypoint.sh"
rm -rf "\$1/usr/lib/postgresql/$pg_major/lib/bitcode" "\$1/usr/lib/postgresql/$pg_major/lib/llvmjit.so" "\$1/usr/lib/postgresql/$pg_major/lib/llvmjit_types.bc"
rm -f "\$1"/usr/lib/*-linux-gnu/libLLVM-*.so* "\$1"/usr/lib/*-linux-gnu/libz3.so*
rm -rf "\$1/var/cache/apt"/*.bin "\$1/var/lib/apt/lists"/* "\$1/var/log"/*.log "\$1/var/log/apt"/* "\$1/usr/share/postgresql/$pg_major/man"
test -x "\$1/usr/lib/postgresql/$pg_major/bin/postgres"
test -f "\$1/usr/share/postgresql/$pg_major/extension/pgcrypto.control"
test -f "\$1/usr/share/postgresql/$pg_major/extension/uuid-ossp.control"
EOF
)

# The host's sources name its own release (bookworm, bookworm-updates,
# bookworm-security); the image's release may differ, so every Debian suite name
# in them becomes the image's. Only the suite field changes: mirrors, components
# and keyrings stay the host's (bookworm's debian-archive-keyring holds trixie's
# keys as well).
# mmdebstrap tells deb822 from one-line style by the file name's extension.
case "$host_sources" in *.sources) extension=.sources ;; *) extension=.list ;; esac
sources="$(mktemp --suffix="$extension" "${TMPDIR:-/tmp}/rls-image-sources.XXXXXX")"
trap 'rm -f "$sources"' EXIT
sed -E "s/\b(bullseye|bookworm|trixie|forky)(-updates|-security|-backports)?\b/$suite\2/g" "$host_sources" >"$sources"
grep -q "$suite" "$sources" || { log "error: $host_sources names no Debian suite to replace with $suite"; exit 1; }

log "building $tag: mmdebstrap $suite minbase + postgresql-$pg_major | docker import"
# The tarball streams straight into docker import (no temporary file). setsid:
# when writing the tarball fails, mmdebstrap sends SIGHUP to its whole process
# group, which must not include this script or its caller (.ci/run).
# `docker import --change` of dockerd 20.10 (Debian's docker.io) rejects
# STOPSIGNAL, so the import gets a temporary tag and a one-line `docker build`
# (classic builder, no pull: the base is local) adds STOPSIGNAL under $tag.
rootfs_tag="$tag-rootfs"
if ! setsid -w mmdebstrap \
	--mode=root --variant=minbase --format=tar --quiet \
	--include="postgresql-$pg_major" \
	--aptopt='APT::Install-Recommends "false"' \
	--aptopt='Acquire::Languages "none"' \
	--dpkgopt='force-unsafe-io' \
	--dpkgopt='path-exclude=/usr/share/man/*' \
	--dpkgopt='path-exclude=/usr/share/doc/*' \
	--dpkgopt='path-include=/usr/share/doc/*/copyright' \
	--dpkgopt='path-exclude=/usr/share/info/*' \
	--dpkgopt='path-exclude=/usr/share/locale/*' \
	--dpkgopt='path-exclude=/usr/share/lintian/*' \
	--setup-hook="$setup_hook" \
	--customize-hook="$customize_hook" \
	"$suite" - "$sources" \
	</dev/null |
docker import \
	--change "ENV PATH=/usr/lib/postgresql/$pg_major/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
	--change "ENV PG_MAJOR=$pg_major" \
	--change 'ENV LANG=C.UTF-8' \
	--change 'ENV PGDATA=/var/lib/postgresql/data' \
	--change 'VOLUME /var/lib/postgresql/data' \
	--change 'EXPOSE 5432' \
	--change 'ENTRYPOINT ["docker-entrypoint.sh"]' \
	--change 'CMD ["postgres"]' \
	--change "LABEL org.opencontainers.image.description=\"PostgreSQL $pg_major from Debian $suite packages, official postgres image contract (rls-harness)\"" \
	--message "rls-harness: postgresql-$pg_major from Debian $suite" \
	- "$rootfs_tag" >/dev/null
then
	docker rmi -f "$rootfs_tag" >/dev/null 2>&1 || true
	log "error: building $tag failed (mmdebstrap | docker import)"
	exit 1
fi
log "imported $rootfs_tag; adding STOPSIGNAL SIGINT"
if ! out=$(printf 'FROM %s\nSTOPSIGNAL SIGINT\n' "$rootfs_tag" |
	DOCKER_BUILDKIT=0 docker build --quiet --tag "$tag" - 2>&1); then
	printf '%s\n' "$out" >&2
	log "error: docker build of $tag failed"
	exit 1
fi
docker rmi "$rootfs_tag" >/dev/null

size=$(docker image inspect --format '{{.Size}}' "$tag")
log "built $tag ($(( size / 1024 / 1024 )) MiB) in $(bc_sub "$EPOCHREALTIME" "$t0") s"
