#!/usr/bin/env bash
# Build the Debian bookworm base image from Debian's own packages, for machines that cannot pull
# from Docker Hub: `debootstrap --variant=minbase` is what the official debian image is made
# from. Usage: deploy/base/make-base-image.sh [TAG]   (default localhost/greenai-base:bookworm)
# Skips the work when TAG already exists; GREENAI_BASE_REBUILD=1 forces it.
# The apt sources are the host's own Debian sources when it has them (a mirror or snapshot set
# there is used inside the images too), else deb.debian.org. Proxies reach apt through the
# usual http_proxy variables, which podman passes to builds; nothing host-specific is stored.
set -euo pipefail
tag=${1:-localhost/greenai-base:bookworm}
if [ "${GREENAI_BASE_REBUILD:-0}" != 1 ] && podman image exists "$tag"; then
  echo "base image $tag exists"
  exit 0
fi
mirror=http://deb.debian.org/debian
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
  found=$(awk '/^URIs:/ && $2 ~ /\/debian\/?$/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
  mirror=${found:-$mirror}
fi
work=$(mktemp -d /var/tmp/greenai-base.XXXXXX)
trap 'rm -rf "$work"' EXIT
debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
  || { tail -40 "$work/debootstrap.log"; exit 1; }
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
  rm -f "$work/rootfs/etc/apt/sources.list"
  cp /etc/apt/sources.list.d/debian.sources "$work/rootfs/etc/apt/sources.list.d/debian.sources"
else
  cat >"$work/rootfs/etc/apt/sources.list" <<SOURCES
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
SOURCES
fi
# As the official slim image: no package lists, docs or man pages; apt keeps no downloads.
cat >"$work/rootfs/etc/dpkg/dpkg.cfg.d/slim" <<'SLIM'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
SLIM
echo 'APT::Install-Recommends "false";' >"$work/rootfs/etc/apt/apt.conf.d/90greenai-no-recommends"
# A snapshot mirror's Release files are past their Valid-Until date.
if apt-config dump | grep -q 'Acquire::Check-Valid-Until "false"'; then
  echo 'Acquire::Check-Valid-Until "false";' >"$work/rootfs/etc/apt/apt.conf.d/90greenai-snapshot"
fi
rm -rf "$work/rootfs/var/lib/apt/lists/"* "$work/rootfs/var/cache/apt/"*.bin \
  "$work/rootfs/usr/share/doc/"* "$work/rootfs/usr/share/man/"*
tar -C "$work/rootfs" -c . | podman import --change 'CMD ["bash"]' - "$tag" >/dev/null
echo "base image $tag built"
