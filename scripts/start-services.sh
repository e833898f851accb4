#!/usr/bin/env bash
# Starts the local PostgreSQL cluster and Redis when they are installed but not running, on
# GREENAI_PG_PORT (default 5432) and GREENAI_REDIS_PORT (default 6379); never stops anything.
# scripts/install-services.sh installs and configures them first where they are missing.
set -euo pipefail
pg_port=${GREENAI_PG_PORT:-5432}
redis_port=${GREENAI_REDIS_PORT:-6379}
if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
  if ! pg_isready -q -h 127.0.0.1 -p "$pg_port"; then
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    echo "Starting PostgreSQL $version/main"
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo pg_ctlcluster --skip-systemctl-redirect "$version" main start
    for _ in $(seq 30); do pg_isready -q -h 127.0.0.1 -p "$pg_port" && break; sleep 1; done
  fi
fi
if command -v redis-server >/dev/null 2>&1; then
  if ! redis-cli -h 127.0.0.1 -p "$redis_port" ping >/dev/null 2>&1; then
    echo "Starting Redis on port $redis_port"
    redis-server --daemonize yes --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no
    for _ in $(seq 30); do redis-cli -h 127.0.0.1 -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 1; done
  fi
fi
pg_isready -q -h 127.0.0.1 -p "$pg_port" \
  || { echo "PostgreSQL is not reachable on 127.0.0.1:$pg_port" >&2; exit 1; }
redis-cli -h 127.0.0.1 -p "$redis_port" ping >/dev/null \
  || { echo "Redis is not reachable on 127.0.0.1:$redis_port" >&2; exit 1; }
