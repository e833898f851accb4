#!/usr/bin/env bash
# PostgreSQL and Redis for ./test and ./benchmark: installs them from Debian when they are
# missing, creates a PostgreSQL cluster when there is none, lets the user postgres connect from
# 127.0.0.1 without a password where it cannot yet, then starts both (scripts/start-services.sh).
# ./run needs neither (SQLite and a filesystem broker).
#
# GREENAI_PG_PORT (default 5432) and GREENAI_REDIS_PORT (default 6379) choose the ports, for a
# machine where other servers already hold the defaults. Needs root (or sudo) the first time.
set -euo pipefail
cd "$(dirname "$0")"
pg_port=${GREENAI_PG_PORT:-5432}
redis_port=${GREENAI_REDIS_PORT:-6379}
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"

needed=()
command -v pg_ctlcluster >/dev/null 2>&1 || needed+=(postgresql)
command -v redis-server >/dev/null 2>&1 || needed+=(redis-server)
if [ ${#needed[@]} -gt 0 ]; then
  echo "Installing Debian packages: ${needed[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${needed[@]}" >/dev/null
fi

# The newest installed PostgreSQL and its cluster "main" (the package usually creates it).
version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
if ! pg_lsclusters -h | awk '{print $1, $2}' | grep -qx "$version main"; then
  echo "Creating PostgreSQL cluster $version/main on port $pg_port"
  $sudo pg_createcluster --port "$pg_port" "$version" main >/dev/null
fi
read -r cluster_port cluster_status < <(
  pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" {print $3, $4}'
)
if [ "$cluster_port" != "$pg_port" ]; then
  if [ "$cluster_status" = online ]; then
    echo "PostgreSQL $version/main runs on port $cluster_port: set GREENAI_PG_PORT=$cluster_port" >&2
    exit 1
  fi
  echo "PostgreSQL $version/main: port $cluster_port -> $pg_port"
  $sudo pg_conftool "$version" main set port "$pg_port"
fi

GREENAI_PG_PORT=$pg_port GREENAI_REDIS_PORT=$redis_port ./start-services.sh

# The tests connect as postgres over TCP without a password: allow it from 127.0.0.1 only.
can_connect() {
  psql -w -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -tAc "SELECT 1" >/dev/null 2>&1
}
if ! can_connect; then
  hba=$(pg_conftool -s "$version" main show hba_file)
  echo "PostgreSQL: trusting the user postgres from 127.0.0.1 ($hba)"
  $sudo sed -i "1i host all postgres 127.0.0.1/32 trust  # GreenAI tests (scripts/install-services.sh)" "$hba"
  $sudo pg_ctlcluster --skip-systemctl-redirect "$version" main reload
  for _ in $(seq 10); do can_connect && break; sleep 1; done
  can_connect || { echo "PostgreSQL refuses postgres@127.0.0.1:$pg_port" >&2; exit 1; }
fi
if ! psql -w -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -tAc \
  "SELECT 1 FROM pg_database WHERE datname = 'greenai'" | grep -q 1; then
  psql -w -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -qc "CREATE DATABASE greenai"
fi
