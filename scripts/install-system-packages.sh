#!/usr/bin/env bash
# Debian packages the product and its tests need: Python 3 with venv, Chromium (browser tests,
# kaleido's chart export), poppler-utils (pdftotext/pdftoppm in the report tests), Pango and fonts
# (WeasyPrint), Prometheus (the agent's prometheus: source is tested against the real server).
# PostgreSQL and Redis are scripts/install-services.sh's (./test, ./benchmark).
# Installs only what is missing; needs root (or sudo) the first time.
set -euo pipefail
needed=()
command -v python3 >/dev/null 2>&1 || needed+=(python3)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || needed+=(python3-venv)
command -v chromium >/dev/null 2>&1 || needed+=(chromium)
command -v pdftoppm >/dev/null 2>&1 || needed+=(poppler-utils)
dpkg -s libpango-1.0-0 >/dev/null 2>&1 || needed+=(libpango-1.0-0 libpangoft2-1.0-0)
dpkg -s libharfbuzz-subset0 >/dev/null 2>&1 || needed+=(libharfbuzz-subset0)
dpkg -s fonts-dejavu-core >/dev/null 2>&1 || needed+=(fonts-dejavu-core)
command -v prometheus >/dev/null 2>&1 || needed+=(prometheus)
[ ${#needed[@]} -eq 0 ] && exit 0
echo "Installing Debian packages: ${needed[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${needed[@]}" >/dev/null
