#!/usr/bin/env bash
# perf/sandbox.sh: pgbench -S through pgsvc and straight to PostgreSQL, side by side, on a throwaway primary and
# streaming replica on loopback. Nothing outside a temp dir is touched; results and logs go to perf/out/.
#
#   perf/sandbox.sh                          # 50 clients, 15 s, scale 10
#   CLIENTS=100 DURATION=30 SCALE=20 perf/sandbox.sh
#   SANDBOX_DIRECT_ONLY=1 perf/sandbox.sh    # PostgreSQL only: no jar, no pooler
#
# Env: CLIENTS, DURATION (s), SCALE, JOBS (pgbench threads), PG_BIN (server binaries), PGSVC_JAR, JAVA_OPTS.
set -euo pipefail

CLIENTS=${CLIENTS:-50}
DURATION=${DURATION:-15}
SCALE=${SCALE:-10}
JOBS=${JOBS:-2}
SANDBOX_DIRECT_ONLY=${SANDBOX_DIRECT_ONLY:-0}
BENCH_USER=bench
BENCH_PASSWORD=benchpass
SUPERUSER_PASSWORD=postgres

cd "$(dirname "$0")/.."
REPO=$PWD
JAR=${PGSVC_JAR:-$REPO/target/pgsvc-pooler.jar}
OUT=$REPO/perf/out/sandbox-$(date +%Y%m%d-%H%M%S)

die() { echo "sandbox: $*" >&2; exit 1; }
log() { echo "sandbox: $*" >&2; }

# Server binaries: $PG_BIN, else pg_config's bindir if it has a server (Debian's may be client-only), else the
# newest /usr/lib/postgresql/N/bin.
find_pg_bin() {
    if [ -n "${PG_BIN:-}" ]; then
        [ -x "$PG_BIN/postgres" ] || die "PG_BIN=$PG_BIN has no 'postgres' binary"
        echo "$PG_BIN"; return
    fi
    local dir
    if dir=$(pg_config --bindir 2>/dev/null) && [ -x "$dir/postgres" ]; then
        echo "$dir"; return
    fi
    dir=$(for d in /usr/lib/postgresql/*/bin; do
        if [ -x "$d/postgres" ]; then echo "$d"; fi
    done | sort -t/ -k5 -n | tail -n 1)
    [ -n "$dir" ] || die "no PostgreSQL server binaries; install them with: apt-get install -y postgresql"
    echo "$dir"
}
PG_BIN=$(find_pg_bin)
command -v pgbench >/dev/null || [ -x "$PG_BIN/pgbench" ] || die "no pgbench; apt-get install -y postgresql-contrib"
PGBENCH=$PG_BIN/pgbench; [ -x "$PGBENCH" ] || PGBENCH=pgbench
PSQL=$PG_BIN/psql; [ -x "$PSQL" ] || PSQL=psql

# PostgreSQL refuses to run as root: the server side then runs as the OS user postgres. Clients run as we are.
RUN_AS=()
if [ "$(id -u)" = 0 ]; then
    id -u postgres >/dev/null 2>&1 || die "running as root and there is no OS user 'postgres' to run PostgreSQL as"
    RUN_AS=(runuser -u postgres --)
fi

if [ "$SANDBOX_DIRECT_ONLY" != 1 ]; then
    command -v java >/dev/null || die "no java; apt-get install -y openjdk-17-jdk-headless"
    if [ ! -f "$JAR" ]; then
        log "no $JAR; building it"
        mvn -B -q -DskipTests package
        [ -f "$JAR" ] || die "the build did not produce $JAR"
    fi
fi

WORK=$(mktemp -d /tmp/pgsvc-sandbox.XXXXXX)
[ ${#RUN_AS[@]} -eq 0 ] || chown postgres: "$WORK"
POOLER_PID=
BENCH_PID=

# Runs a server program as the server's OS user, from a directory that user may enter.
as_pg() { (cd "$WORK" && "${RUN_AS[@]}" "$@"); }
# Writes stdin to a file the server's OS user owns.
put() { cat > "$1"; [ ${#RUN_AS[@]} -eq 0 ] || chown postgres: "$1"; }

save_logs() {
    mkdir -p "$OUT"
    cp "$WORK"/*.log "$WORK"/pooler.ini "$OUT"/ 2>/dev/null || true
}

cleanup() {
    local rc=$?
    set +e
    [ -z "$BENCH_PID" ] || kill "$BENCH_PID" 2>/dev/null
    if [ -n "$POOLER_PID" ] && kill -0 "$POOLER_PID" 2>/dev/null; then
        kill "$POOLER_PID"
        local deadline=$((SECONDS + 15))
        while kill -0 "$POOLER_PID" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
        kill -0 "$POOLER_PID" 2>/dev/null && kill -9 "$POOLER_PID"
        wait "$POOLER_PID" 2>/dev/null
    fi
    for name in replica primary; do
        if [ -f "$WORK/$name/data/postmaster.pid" ]; then
            as_pg "$PG_BIN/pg_ctl" -D "$WORK/$name/data" -m fast -w -t 60 stop >/dev/null
        fi
    done
    save_logs
    [ "$rc" -eq 0 ] || log "failed (exit $rc); logs in $OUT"
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_until SECONDS WHAT COMMAND...: polls COMMAND until it succeeds or the deadline passes.
wait_until() {
    local timeout=$1 what=$2; shift 2
    local deadline=$((SECONDS + timeout))
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || die "timed out after ${timeout}s waiting until $what"
        sleep 0.1
    done
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A port nobody listens on, below Linux's ephemeral range so that outgoing connections rarely take it later.
free_port() {
    local p
    for _ in $(seq 200); do
        p=$((RANDOM % 22000 + 10000))
        port_in_use "$p" || { echo "$p"; return 0; }
    done
    die "no free port found"
}

psql_super() { # PORT SQL
    PGPASSWORD=$SUPERUSER_PASSWORD "$PSQL" -X -A -t -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$1" -U postgres \
        -d postgres -c "$2"
}

server_conf() { # NAME PORT
    cat <<EOF
# written by perf/sandbox.sh
listen_addresses = '127.0.0.1'
port = $2
unix_socket_directories = '$WORK/$1'
cluster_name = '$1'
max_connections = 300
shared_buffers = 128MB
wal_level = replica
max_wal_senders = 10
hot_standby = on
# durability is worth nothing in a throwaway cluster
fsync = off
synchronous_commit = off
full_page_writes = off
logging_collector = off
EOF
}

# start_pg NAME: starts the server in $WORK/NAME/data on a free port and prints the port. A port taken between
# choosing and binding it shows as "Address already in use" in the log: then another port is tried.
start_pg() {
    local name=$1 port
    for _ in 1 2 3 4 5; do
        port=$(free_port)
        server_conf "$name" "$port" | put "$WORK/$name/data/pgsvc.conf"
        rm -f "$WORK/$name.log"
        if as_pg "$PG_BIN/pg_ctl" -D "$WORK/$name/data" -l "$WORK/$name.log" -w -t 60 start >/dev/null; then
            echo "$port"; return 0
        fi
        if ! grep -q 'Address already in use' "$WORK/$name.log"; then
            tail -n 20 "$WORK/$name.log" >&2
            die "$name did not start"
        fi
    done
    die "$name: no free port after 5 attempts"
}

log "PostgreSQL from $PG_BIN, files in $WORK"
echo "$SUPERUSER_PASSWORD" | put "$WORK/pwfile"
as_pg "$PG_BIN/initdb" -D "$WORK/primary/data" -U postgres -A scram-sha-256 --pwfile="$WORK/pwfile" -E UTF8 \
    --locale=C --no-sync >/dev/null
put "$WORK/primary/data/pg_hba.conf" <<EOF
local all all trust
host all all 127.0.0.1/32 scram-sha-256
host replication all 127.0.0.1/32 trust
EOF
# Our settings in a file of their own, so the replica can replace them after pg_basebackup copied them.
{ cat "$WORK/primary/data/postgresql.conf"; echo "include 'pgsvc.conf'"; } > "$WORK/postgresql.conf.new"
put "$WORK/primary/data/postgresql.conf" < "$WORK/postgresql.conf.new"
PRIMARY_PORT=$(start_pg primary)
wait_until 60 "the primary accepts connections" psql_super "$PRIMARY_PORT" "SELECT 1"

as_pg "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres -D "$WORK/replica/data" -R -X stream \
    -c fast -C -S sandbox_replica --no-sync
REPLICA_PORT=$(start_pg replica)
streaming() {
    [ "$(psql_super "$PRIMARY_PORT" "SELECT count(*) FROM pg_stat_replication
        WHERE application_name = 'replica' AND state = 'streaming'")" = 1 ] &&
    [ "$(psql_super "$REPLICA_PORT" "SELECT pg_is_in_recovery()")" = t ]
}
wait_until 60 "the replica streams from the primary" streaming
log "primary on 127.0.0.1:$PRIMARY_PORT, streaming replica on 127.0.0.1:$REPLICA_PORT"

psql_super "$PRIMARY_PORT" "CREATE ROLE $BENCH_USER LOGIN PASSWORD '$BENCH_PASSWORD'" >/dev/null
psql_super "$PRIMARY_PORT" "CREATE DATABASE pgbench OWNER $BENCH_USER" >/dev/null
log "pgbench -i -s $SCALE"
PGPASSWORD=$BENCH_PASSWORD "$PGBENCH" -i -q -s "$SCALE" -h 127.0.0.1 -p "$PRIMARY_PORT" -U "$BENCH_USER" pgbench \
    > "$WORK/pgbench-init.log" 2>&1 || { tail -n 20 "$WORK/pgbench-init.log" >&2; die "pgbench -i failed"; }

if [ "$SANDBOX_DIRECT_ONLY" != 1 ]; then
    POOLER_PORT=6432
    port_in_use "$POOLER_PORT" && POOLER_PORT=$(free_port)
    printf '"%s" "%s"\n"postgres" "%s"\n' "$BENCH_USER" "$BENCH_PASSWORD" "$SUPERUSER_PASSWORD" \
        > "$WORK/userlist.txt"
    cat > "$WORK/pooler.ini" <<EOF
[databases]
pgbench = host=127.0.0.1 port=$PRIMARY_PORT dbname=pgbench

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $POOLER_PORT
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $WORK/userlist.txt
pool_mode = transaction
default_pool_size = 20
max_client_conn = 1000
admin_users = postgres
EOF
    # shellcheck disable=SC2086 # JAVA_OPTS is a list of options
    (cd "$WORK" && exec java ${JAVA_OPTS:-} -jar "$JAR" "$WORK/pooler.ini") > "$WORK/pooler.log" 2>&1 &
    POOLER_PID=$!
    pooler_answers() {
        kill -0 "$POOLER_PID" 2>/dev/null || { tail -n 30 "$WORK/pooler.log" >&2; die "pgsvc exited"; }
        [ "$(PGPASSWORD=$BENCH_PASSWORD PGCONNECT_TIMEOUT=2 "$PSQL" -X -A -t -h 127.0.0.1 -p "$POOLER_PORT" \
            -U "$BENCH_USER" -d pgbench -c 'SELECT 1' 2>/dev/null)" = 1 ]
    }
    # Not wait_until: its output redirection would hide the pooler's log when pgsvc exits early.
    deadline=$((SECONDS + 60))
    until pooler_answers; do
        [ "$SECONDS" -lt "$deadline" ] || die "timed out after 60s waiting for pgsvc on port $POOLER_PORT"
        sleep 0.1
    done
    log "pgsvc on 127.0.0.1:$POOLER_PORT (pid $POOLER_PID)"
fi

# bench LABEL PORT: pgbench -S, its output in $WORK/LABEL.out; a failing run is reported, not fatal.
bench() {
    log "pgbench -S -c $CLIENTS -j $JOBS -T $DURATION against $1 (port $2)"
    # In the background: bash runs a trap only between commands, and wait is one it can interrupt.
    PGPASSWORD=$BENCH_PASSWORD "$PGBENCH" -S -c "$CLIENTS" -j "$JOBS" -T "$DURATION" -h 127.0.0.1 -p "$2" \
        -U "$BENCH_USER" pgbench > "$WORK/$1.out" 2> "$WORK/$1.err" &
    BENCH_PID=$!
    wait "$BENCH_PID" || log "pgbench against $1 exited $?"
    BENCH_PID=
}
# fields FILE: "tps latency_ms failed" from pgbench 15's summary, "-" where a line is missing.
fields() {
    awk '/^tps = / { tps = $3 }
         /^latency average = / { lat = $4 }
         /^number of failed transactions: / { failed = $5 }
         END { printf "%s %s %s\n", tps == "" ? "-" : sprintf("%.1f", tps), lat == "" ? "-" : lat,
                      failed == "" ? "-" : failed }' "$1"
}

[ "$SANDBOX_DIRECT_ONLY" = 1 ] || bench pgsvc "$POOLER_PORT"
bench postgresql "$PRIMARY_PORT"

mkdir -p "$OUT"
{
    printf '%-12s %8s %12s %12s %8s\n' target clients tps latency_ms failed
    for target in pgsvc postgresql; do
        [ -f "$WORK/$target.out" ] || continue
        read -r tps lat failed < <(fields "$WORK/$target.out")
        printf '%-12s %8s %12s %12s %8s\n' "$target" "$CLIENTS" "$tps" "$lat" "$failed"
    done
    if [ -f "$WORK/pgsvc.out" ]; then
        read -r p _ _ < <(fields "$WORK/pgsvc.out")
        read -r d _ _ < <(fields "$WORK/postgresql.out")
        awk -v p="$p" -v d="$d" 'BEGIN {
            if (p + 0 > 0 && d + 0 > 0) printf "tps ratio pgsvc/postgresql: %.3f\n", p / d
            else print "tps ratio pgsvc/postgresql: n/a"
        }'
    fi
    echo "(pgbench -S, -j $JOBS, -T $DURATION s, scale $SCALE, pool_mode=transaction, default_pool_size=20)"
} | tee "$OUT/summary.txt"
cp "$WORK"/*.out "$WORK"/*.err "$OUT"/ 2>/dev/null || true
