#!/usr/bin/env bash
# Debian packages the deploy check (./test deploy) needs: podman with runc and netavark (user
# networks whose containers reach each other by name), debootstrap (the base image from Debian's
# packages), catatonit (the pause process `podman kube play` builds its pods' infra image from;
# only recommended by podman, so --no-install-recommends leaves it out) and poppler-utils
# (pdftotext on the rendered report). Installs only what is missing; needs root (or sudo) the
# first time.
set -euo pipefail
needed=()
for package in podman runc netavark aardvark-dns debootstrap uidmap slirp4netns \
  fuse-overlayfs containernetworking-plugins catatonit poppler-utils; do
  dpkg -s "$package" >/dev/null 2>&1 || needed+=("$package")
done
[ ${#needed[@]} -eq 0 ] && exit 0
echo "Installing Debian packages: ${needed[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${needed[@]}" >/dev/null
