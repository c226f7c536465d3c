# PostgreSQL for the store contract tests: a throwaway cluster from Debian's `postgresql`
# package (installed when absent), run as the `postgres` user because initdb and postgres
# refuse to run as root. Trust authentication on 127.0.0.1 only; the data is discarded on stop.
# Exports PLATFORM_TEST_POSTGRES_URL. When that variable is already set, its server is used.

pg_dir() { echo "$STAGEBUS_SERVICES_DIR/postgres"; }

pg_bin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [[ -z $d ]]; then
    log "postgres: installing Debian's postgresql package"
    if [[ $(id -u) != 0 ]]; then
      echo "services: postgres: the postgresql package is missing and installing it needs root" >&2
      return 1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2 ||
      { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2; }
    d=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  fi
  echo "$d"
}

# as_pg runs a command as the postgres user when we are root, else as ourselves.
as_pg() { if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }

postgres_external() { [[ -n ${PLATFORM_TEST_POSTGRES_URL:-} && ! -f $(pg_dir)/port ]]; }

postgres_running() {
  local dir; dir=$(pg_dir)
  [[ -f $dir/port ]] || return 1
  "$(pg_bin)/pg_isready" -q -h 127.0.0.1 -p "$(cat "$dir/port")" -t 2
}

postgres_start() {
  local dir bin port
  dir=$(pg_dir); bin=$(pg_bin)
  rm -rf "$dir"; mkdir -p "$dir"
  port=$(free_port)
  if [[ $(id -u) == 0 ]]; then chown postgres: "$dir"; fi
  chmod 755 "$STAGEBUS_SERVICES_DIR"
  as_pg "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; return 1; }
  pg_launch "$dir" "$port" || return 1
  echo "$port" >"$dir/port"
}

# pg_launch DIR PORT starts the server of DIR/data on 127.0.0.1:PORT and waits until it answers.
pg_launch() {
  local dir=$1 port=$2
  as_pg "$(pg_bin)/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >/dev/null ||
    { cat "$dir/server.log" >&2; return 1; }
}

postgres_stop() {
  local dir; dir=$(pg_dir)
  as_pg "$(pg_bin)/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}

postgres_env() {
  if postgres_external; then
    echo "export PLATFORM_TEST_POSTGRES_URL='$PLATFORM_TEST_POSTGRES_URL'"
  else
    echo "export PLATFORM_TEST_POSTGRES_URL='postgres://postgres@127.0.0.1:$(cat "$(pg_dir)/port")/postgres?sslmode=disable'"
  fi
}

# postgres_pause stops our server (pg_ctl fast shutdown: clients are disconnected, committed
# data is kept) and keeps its data directory and port (scripts/services pause postgres).
postgres_pause() {
  local dir; dir=$(pg_dir)
  [[ -f $dir/port ]] || { echo "postgres: no server of ours recorded in $dir" >&2; return 1; }
  as_pg "$(pg_bin)/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
  log "postgres: stopped; data and port 127.0.0.1:$(<"$dir/port") kept"
}

# postgres_resume starts the paused server again on the same port and data directory and waits
# until it answers (scripts/services resume postgres).
postgres_resume() {
  local dir; dir=$(pg_dir)
  [[ -f $dir/port ]] || { echo "postgres: no server of ours recorded in $dir" >&2; return 1; }
  if postgres_running; then log "postgres: already running"; return 0; fi
  pg_launch "$dir" "$(<"$dir/port")" || return 1
  log "postgres: running again on 127.0.0.1:$(<"$dir/port")"
}
