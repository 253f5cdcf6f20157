#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on loopback, for the tests and the benchmarks:
#   scripts/postgres-cluster.sh start DIR   initdb in DIR (created), start on a free port,
#                                           print the URL (also written to DIR/url); a DIR
#                                           started before starts again on its port
#   scripts/postgres-cluster.sh stop DIR    stop it (by the PID in its postmaster.pid)
#   scripts/postgres-cluster.sh with CMD... run CMD with GATEHOUSE_TEST_POSTGRES_URL set to a
#                                           cluster started for it and stopped after; when
#                                           that variable is already set, or
#                                           GATEHOUSE_SKIP_POSTGRES=1, CMD just runs
# The superuser is `gatehouse` with a random password (SCRAM), the server listens on
# 127.0.0.1 only. PostgreSQL refuses to run as root: as root, DIR is handed to the
# `postgres` user (Debian's package makes it) and the server runs as that user.
# Needs Debian's postgresql package (initdb and pg_ctl under /usr/lib/postgresql/*/bin).
set -euo pipefail

command=${1:-}
if [ "$command" = with ]; then
    shift
    [ $# -gt 0 ] || { echo "usage: $0 with COMMAND..." >&2; exit 2; }
    if [ -n "${GATEHOUSE_TEST_POSTGRES_URL:-}" ] || [ "${GATEHOUSE_SKIP_POSTGRES:-}" = 1 ]; then exec "$@"; fi
    cluster=$(mktemp -d)
    chmod 755 "$cluster"
    trap '"$0" stop "$cluster/pg" || true; rm -rf "$cluster"' EXIT
    GATEHOUSE_TEST_POSTGRES_URL=$("$0" start "$cluster/pg")
    export GATEHOUSE_TEST_POSTGRES_URL
    status=0
    "$@" || status=$?
    exit "$status"
fi
dir=${2:-}
[ -n "$command" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop DIR, or $0 with COMMAND..." >&2; exit 2; }

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$bin" ] && command -v pg_ctl >/dev/null; then bin=$(dirname "$(command -v pg_ctl)"); fi
[ -n "$bin" ] && [ -x "$bin/pg_ctl" ] || { echo "no PostgreSQL server found (apt-get install postgresql)" >&2; exit 2; }

# Closes every descriptor above 2 this shell inherited: the server outlives this script,
# and a pipe it kept open (a test's, reading this script's output) would never reach its end.
close_inherited() {
    local fd
    for fd in /proc/$BASHPID/fd/*; do
        fd=${fd##*/}
        if [ "$fd" -gt 2 ] && [ "$fd" != 255 ]; then eval "exec $fd>&-" 2>/dev/null || true; fi
    done
}

as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$command" in
start)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if [ -f "$dir/url" ]; then
        # Started before and stopped: the same data, port and URL (a restart, as after an outage).
        port=$(cat "$dir/port")
    else
        [ "$(id -u)" = 0 ] && chown postgres "$dir"
        port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        password=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
        printf '%s\n' "$password" >"$dir/password"
        chmod 600 "$dir/password"
        [ "$(id -u)" = 0 ] && chown postgres "$dir/password"
        as_owner "$bin/initdb" -D "$dir/data" -U gatehouse --pwfile="$dir/password" --auth=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
            { cat "$dir/initdb.log" >&2; exit 1; }
        echo "$port" >"$dir/port"
        (umask 077 && echo "postgres://gatehouse:$password@127.0.0.1:$port/postgres" >"$dir/url")
    fi
    # Loopback only, a socket in DIR (not /var/run), enough connections for several gateways.
    (
        close_inherited
        as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$dir -c max_connections=200 -c fsync=off" start </dev/null >/dev/null 2>&1
    ) || { cat "$dir/server.log" >&2; exit 1; }
    cat "$dir/url"
    ;;
stop)
    [ -f "$dir/data/postmaster.pid" ] || exit 0
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    ;;
*)
    echo "usage: $0 start|stop DIR" >&2
    exit 2
    ;;
esac
