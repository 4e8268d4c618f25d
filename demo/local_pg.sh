#!/usr/bin/env bash
# A private PostgreSQL cluster for the demo's database migrations: Debian's server binaries, data in
# DIR/data, listening on 127.0.0.1:18432 and a socket in DIR, the demo database appdb with an orders table
# that the sample app reads as role app. Run as postgres when the demo runs as root (initdb refuses root).
#   local_pg.sh start DIR | stop DIR
set -euo pipefail
action=$1 dir=$2
port=18432
bin_dir=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -1)
as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
case "$action" in
start)
    if [ -z "$bin_dir" ]; then
        [ "$(id -u)" = 0 ] || { echo "the demo needs PostgreSQL: apt-get install postgresql" >&2; exit 1; }
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
        bin_dir=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d | sort -V | tail -1)
    fi
    mkdir -p "$dir"
    chmod 700 "$dir"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir"
    as_owner "$bin_dir/initdb" -D "$dir/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log"; exit 1; }
    printf "listen_addresses = '127.0.0.1'\nport = %s\nunix_socket_directories = '%s'\nfsync = off\n" "$port" "$dir" >> "$dir/data/postgresql.conf"
    as_owner "$bin_dir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null
    as_owner "$bin_dir/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres -d postgres \
        -c "CREATE ROLE app LOGIN PASSWORD 'demo-app'" -c "CREATE DATABASE appdb OWNER app" >/dev/null
    as_owner "$bin_dir/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres -d appdb -c "
        CREATE TABLE orders (id integer PRIMARY KEY, item text NOT NULL, legacy_note text);
        INSERT INTO orders SELECT n, 'item-' || n, 'note ' || n FROM generate_series(1, 500) AS n;
        ALTER TABLE orders OWNER TO app" >/dev/null
    ;;
stop)
    if [ -n "$bin_dir" ] && [ -f "$dir/data/postmaster.pid" ]; then
        as_owner "$bin_dir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    ;;
*)
    echo "usage: local_pg.sh start|stop DIR" >&2
    exit 2
    ;;
esac
