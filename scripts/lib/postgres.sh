# Sourced: start_throwaway_postgres starts a PostgreSQL cluster on loopback in a temp dir, exports
# PG_URL_BASE (postgres://latchkey@127.0.0.1:PORT) and stops/removes it on exit. 500 connections: the Swift suite
# runs its tests in parallel, each with a pool of up to 16.
start_throwaway_postgres() {
  local pgbin port
  pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  PG_DIR=$(mktemp -d /tmp/latchkey-pg.XXXXXX)
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  PG_AS=()
  if [ "$(id -u)" -eq 0 ]; then chown postgres "$PG_DIR"; PG_AS=(runuser -u postgres --); fi
  "${PG_AS[@]}" "$pgbin/initdb" -D "$PG_DIR/data" -A trust -U latchkey >/dev/null
  "${PG_AS[@]}" "$pgbin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w \
    -o "-h 127.0.0.1 -p $port -k $PG_DIR -c fsync=off -c max_connections=1000" start >/dev/null
  PG_BIN=$pgbin
  PG_PORT=$port
  trap '"${PG_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$PG_DIR"' EXIT
  export PG_URL_BASE="postgres://latchkey@127.0.0.1:$port"
  echo "started throwaway PostgreSQL $("$pgbin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port"
}

create_postgres_database() {
  "${PG_AS[@]}" "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U latchkey "$1"
}
