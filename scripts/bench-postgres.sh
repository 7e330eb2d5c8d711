#!/usr/bin/env bash
# Starts a dedicated PostgreSQL with the settings of the shared benchmark workload
# (docs/performance.md, "The workload") on 127.0.0.1:${PGQUEUE_BENCH_PORT:-5440}, in its own data directory,
# so benchmark runs neither disturb nor depend on any other server. Uses the machine's PostgreSQL
# binaries (Debian: /usr/lib/postgresql/<major>/bin; newest major found unless PG_BIN is set).
# Prints the JDBC URL. `scripts/bench-postgres.sh stop` stops it.
# PGQUEUE_BENCH_STATEMENTS=on starts it with pg_stat_statements loaded (shared_preload_libraries,
# from PostgreSQL's contrib), for Bench's --process-scaling profile; off by default, since it
# hooks every statement and is not one of the workload's settings. It takes effect when this
# script starts the server: stop a running one first.
set -euo pipefail
port="${PGQUEUE_BENCH_PORT:-5440}"
dir="${PGQUEUE_BENCH_PGDATA:-/tmp/pgqueue-bench-pg}"
bin="${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}"
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  echo "no PostgreSQL binaries found (set PG_BIN)" >&2
  exit 1
fi
# PostgreSQL refuses to run as root: run it as the postgres user when we are root.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

if [ "${1:-start}" = stop ]; then
  as_pg "$bin/pg_ctl" -D "$dir" -m fast stop >/dev/null 2>&1 || true
  exit 0
fi

if [ ! -f "$dir/PG_VERSION" ]; then
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
  as_pg "$bin/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 >/dev/null
  cat >> "$dir/postgresql.conf" <<CONF
# The benchmark workload's server settings (docs/performance.md)
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
shared_buffers = 1GB
effective_cache_size = 8GB
work_mem = 16MB
maintenance_work_mem = 256MB
wal_buffers = 16MB
max_wal_size = 4GB
min_wal_size = 1GB
checkpoint_timeout = 15min
checkpoint_completion_target = 0.9
synchronous_commit = on
fsync = on
full_page_writes = on
random_page_cost = 1.1
effective_io_concurrency = 200
max_connections = 200
autovacuum = on
CONF
fi
if ! as_pg "$bin/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
  opts=()
  if [ "${PGQUEUE_BENCH_STATEMENTS:-off}" = on ]; then
    opts=(-o "-c shared_preload_libraries=pg_stat_statements")
  fi
  as_pg "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w "${opts[@]}" start >/dev/null
fi
echo "jdbc:postgresql://127.0.0.1:$port/postgres?user=postgres"
