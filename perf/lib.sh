# perf/lib.sh: the benchmark sandbox that perf/sandbox.sh, perf/bench.sh and perf/idle-clients.sh share: a
# throwaway PostgreSQL primary and streaming replica on loopback, pgsvc and PgBouncer in front of the primary, all
# in one temp dir that the EXIT trap removes. Sourced, not run. The caller sets `set -euo pipefail` and NAME (its
# log prefix), may set the knobs below, calls sandbox_init, and may define sandbox_on_exit (run before the temp
# dir goes, e.g. to copy logs out of it).
#
# Knobs: PG_BIN (server binaries), PGSVC_JAR, PGSVC_JAVA_OPTS, MAX_CONNECTIONS (PostgreSQL), POOL_AUTH_TYPE,
# POOL_SIZE and MAX_CLIENT_CONN (both poolers).

BENCH_USER=bench
BENCH_PASSWORD=benchpass
SUPERUSER_PASSWORD=postgres
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MAX_CONNECTIONS=${MAX_CONNECTIONS:-300}
POOL_AUTH_TYPE=${POOL_AUTH_TYPE:-scram-sha-256}
POOL_SIZE=${POOL_SIZE:-20}
MAX_CLIENT_CONN=${MAX_CLIENT_CONN:-1000}
PGSVC_JAVA_OPTS=${PGSVC_JAVA_OPTS:-}
# pgsvc's JVM in the benchmarks: the launcher settings of conf/pgsvc.service and the README. Shenandoah: its pauses
# are short root scans, mostly under a millisecond and under 6 ms in 95 of 97 in a full benchmark (two were
# stretched to 15 and 30 ms by the scheduler on saturated cores), where the stop-the-world young collections of G1
# (the default), Parallel and Serial took 9-76 ms on the 2-core machine under load. Its compact mode keeps RSS near
# what is live (a cycle at least every 30 s, emptied regions back to the OS after 1 s), and it keeps compressed
# references, which JDK 17's ZGC does not. The other four options quiet the JVM's own threads while pgsvc allocates
# nothing per transaction: no pacer tick every 10 ms, the collector's control thread checks every 100 ms instead of
# every 10, no counters sampled for jstat every 50 ms (about 2% of pgsvc's CPU per -S transaction, RESULTS, session
# 9). TrimNativeHeapInterval gives the OS back, every 5 s, the C heap that the JVM freed and glibc kept (after 10,000
# logins, 0.8 kB of RSS per idle client instead of 2 to 4; RESULTS, session 10). perf/gc.sh and perf/RESULTS.md have
# the figures.
PGSVC_BENCH_JAVA_OPTS="-XX:+UseShenandoahGC -XX:ShenandoahGCHeuristics=compact -Xms32m -Xmx512m -XX:TrimNativeHeapInterval=5000 -XX:+UnlockExperimentalVMOptions -XX:-ShenandoahPacing -XX:ShenandoahControlIntervalMax=100 -XX:-UsePerfData"

die() { echo "$NAME: $*" >&2; exit 1; }
log() { echo "$NAME: $*" >&2; }

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

# The jar to run: $PGSVC_JAR as it is, else target/pgsvc-pooler.jar, built when missing or older than a source.
find_jar() {
    if [ -n "${PGSVC_JAR:-}" ]; then
        [ -f "$PGSVC_JAR" ] || die "PGSVC_JAR=$PGSVC_JAR does not exist"
        echo "$PGSVC_JAR"; return
    fi
    local jar=$REPO/target/pgsvc-pooler.jar
    if [ ! -f "$jar" ] || [ -n "$(find "$REPO/pom.xml" "$REPO/protocol" "$REPO/pooler" "$REPO/router" \
            "$REPO/src/main" -newer "$jar" -type f -print -quit 2>/dev/null)" ]; then
        log "building $jar (mvn -B -q -DskipTests package)"
        (cd "$REPO" && mvn -B -q -DskipTests package) >&2
        [ -f "$jar" ] || die "the build did not produce $jar"
    fi
    echo "$jar"
}

# sandbox_init [pooler]: finds the tools, makes $WORK and sets the traps. With "pooler" also java and the jar,
# copied into $WORK so that a rebuild while we run changes nothing.
sandbox_init() {
    PG_BIN=$(find_pg_bin)
    command -v pgbench >/dev/null || [ -x "$PG_BIN/pgbench" ] || die "no pgbench; apt-get install -y postgresql-contrib"
    PGBENCH=$PG_BIN/pgbench; [ -x "$PGBENCH" ] || PGBENCH=pgbench
    PSQL=$PG_BIN/psql; [ -x "$PSQL" ] || PSQL=psql
    # PostgreSQL and PgBouncer refuse to run as root: they then run as the OS user postgres. Clients run as we are.
    RUN_AS=()
    if [ "$(id -u)" = 0 ]; then
        id -u postgres >/dev/null 2>&1 || die "running as root and there is no OS user 'postgres' to run PostgreSQL as"
        RUN_AS=(runuser -u postgres --)
    fi
    local jar=
    if [ "${1:-}" = pooler ]; then
        command -v java >/dev/null || die "no java; apt-get install -y openjdk-17-jdk-headless"
        jar=$(find_jar)
    fi
    WORK=$(mktemp -d /tmp/pgsvc-sandbox.XXXXXX)
    [ ${#RUN_AS[@]} -eq 0 ] || chown postgres: "$WORK"
    if [ -n "$jar" ]; then
        cp "$jar" "$WORK/pgsvc-pooler.jar"
    fi
    PRIMARY_PORT= REPLICA_PORT=
    PGSVC_PID= PGSVC_PORT=
    PGBOUNCER_PID= PGBOUNCER_RUNNER= PGBOUNCER_PORT=
    BENCH_PID=
    HELPER_PIDS=()
    trap sandbox_cleanup EXIT
    trap 'exit 130' INT TERM
}

# Runs a server program as the server's OS user, from a directory that user may enter.
as_pg() { (cd "$WORK" && "${RUN_AS[@]}" "$@"); }
# Writes stdin to a file the server's OS user owns.
put() { cat > "$1"; [ ${#RUN_AS[@]} -eq 0 ] || chown postgres: "$1"; }

# stop_pid PID [RUNNER]: SIGTERM, SIGKILL after 15 s. RUNNER is our child that runs PID (runuser), reaped after.
stop_pid() {
    local pid=$1 runner=${2:-$1}
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null
        local deadline=$((SECONDS + 15))
        while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
    fi
    wait "$runner" 2>/dev/null || true
}

stop_poolers() {
    [ -z "$PGSVC_PID" ] || stop_pid "$PGSVC_PID"
    [ -z "$PGBOUNCER_PID" ] || stop_pid "$PGBOUNCER_PID" "$PGBOUNCER_RUNNER"
    PGSVC_PID= PGBOUNCER_PID= PGBOUNCER_RUNNER=
}

# Helpers are our children in the background (idle clients, samplers): their pids are in HELPER_PIDS.
stop_helpers() {
    local p
    for p in "${HELPER_PIDS[@]}"; do stop_pid "$p"; done
    HELPER_PIDS=()
}

sandbox_cleanup() {
    local rc=$?
    set +e
    [ -z "$BENCH_PID" ] || stop_pid "$BENCH_PID"
    stop_helpers
    stop_poolers
    for name in replica primary; do
        if [ -f "$WORK/$name/data/postmaster.pid" ]; then
            as_pg "$PG_BIN/pg_ctl" -D "$WORK/$name/data" -m fast -w -t 60 stop >/dev/null
        fi
    done
    if declare -F sandbox_on_exit >/dev/null; then sandbox_on_exit "$rc"; fi
    rm -rf "$WORK"
    exit "$rc"
}

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

psql_super() { # PORT SQL [DB]
    PGPASSWORD=$SUPERUSER_PASSWORD "$PSQL" -X -A -t -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$1" -U postgres \
        -d "${3:-postgres}" -c "$2"
}

# psql_bench PORT: "SELECT 1" as the bench user (through a pooler), true when the answer is 1.
psql_bench() {
    [ "$(PGPASSWORD=$BENCH_PASSWORD PGCONNECT_TIMEOUT=2 "$PSQL" -X -A -t -h 127.0.0.1 -p "$1" -U "$BENCH_USER" \
        -d pgbench -c 'SELECT 1' 2>/dev/null)" = 1 ]
}

server_conf() { # NAME PORT
    cat <<EOF
# written by perf/lib.sh
listen_addresses = '127.0.0.1'
port = $2
unix_socket_directories = '$WORK/$1'
cluster_name = '$1'
max_connections = $MAX_CONNECTIONS
shared_buffers = 256MB
wal_level = replica
max_wal_senders = 10
hot_standby = on
# durability is worth nothing in a throwaway cluster
fsync = off
synchronous_commit = off
full_page_writes = off
# no checkpoint in the middle of a run: the benchmark asks for one between runs
max_wal_size = 8GB
checkpoint_timeout = 1h
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

# start_cluster SCALE [noreplica]: primary (PRIMARY_PORT) and streaming replica (REPLICA_PORT), the bench role, the
# pgbench database, pgbench -i -s SCALE (none when SCALE is 0).
start_cluster() {
    local scale=$1
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

    if [ "${2:-}" != noreplica ]; then
        as_pg "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres -D "$WORK/replica/data" -R \
            -X stream -c fast -C -S sandbox_replica --no-sync
        REPLICA_PORT=$(start_pg replica)
        wait_until 60 "the replica streams from the primary" streaming
        log "primary on 127.0.0.1:$PRIMARY_PORT, streaming replica on 127.0.0.1:$REPLICA_PORT"
    else
        log "primary on 127.0.0.1:$PRIMARY_PORT"
    fi

    psql_super "$PRIMARY_PORT" "CREATE ROLE $BENCH_USER LOGIN PASSWORD '$BENCH_PASSWORD'" >/dev/null
    psql_super "$PRIMARY_PORT" "CREATE DATABASE pgbench OWNER $BENCH_USER" >/dev/null
    if [ "$scale" -gt 0 ]; then
        log "pgbench -i -s $scale"
        PGPASSWORD=$BENCH_PASSWORD "$PGBENCH" -i -q -s "$scale" -h 127.0.0.1 -p "$PRIMARY_PORT" -U "$BENCH_USER" \
            pgbench > "$WORK/pgbench-init.log" 2>&1 ||
            { tail -n 20 "$WORK/pgbench-init.log" >&2; die "pgbench -i failed"; }
    fi
}

streaming() {
    [ "$(psql_super "$PRIMARY_PORT" "SELECT count(*) FROM pg_stat_replication
        WHERE application_name = 'replica' AND state = 'streaming'")" = 1 ] &&
    [ "$(psql_super "$REPLICA_PORT" "SELECT pg_is_in_recovery()")" = t ]
}

# pooler_ini PORT AUTH_FILE UNIX_SOCKET_DIR: the settings pgsvc and PgBouncer share. Plain passwords in the auth
# file: either pooler answers md5 and SCRAM clients from them and logs in to PostgreSQL with SCRAM.
pooler_ini() {
    cat <<EOF
[databases]
pgbench = host=127.0.0.1 port=$PRIMARY_PORT dbname=pgbench

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $1
unix_socket_dir = $3
auth_type = $POOL_AUTH_TYPE
auth_file = $2
pool_mode = transaction
default_pool_size = $POOL_SIZE
max_client_conn = $MAX_CLIENT_CONN
admin_users = postgres
EOF
    # Extra [pgbouncer] lines for both poolers (perf/tls.sh's TLS settings).
    [ -z "${POOLER_EXTRA:-}" ] || printf '%s\n' "$POOLER_EXTRA"
}

userlist() {
    printf '"%s" "%s"\n"postgres" "%s"\n' "$BENCH_USER" "$BENCH_PASSWORD" "$SUPERUSER_PASSWORD"
}

# await_pooler LABEL LOGFILE: waits until the pooler that our child $RUNNER runs answers on $PORT. 0 when it does,
# 1 when it exited because its port was taken (try another), dies otherwise.
await_pooler() {
    local label=$1 log=$2 deadline=$((SECONDS + 60))
    until psql_bench "$PORT"; do
        if ! kill -0 "$RUNNER" 2>/dev/null; then
            wait "$RUNNER" 2>/dev/null || true
            grep -q 'Address already in use' "$log" && return 1
            tail -n 30 "$log" >&2
            die "$label exited before it answered"
        fi
        [ "$SECONDS" -lt "$deadline" ] || { tail -n 30 "$log" >&2; die "timed out after 60s waiting for $label"; }
        sleep 0.1
    done
}

# start_pgsvc: java $PGSVC_JAVA_OPTS -jar pgsvc-pooler.jar (PGSVC_PID, PGSVC_PORT), its output in
# $WORK/pgsvc/pgsvc.log. PGSVC_SECTIONS, when set, is appended to its file: pgsvc's own sections ([hosts],
# [services], [router]), which PgBouncer would refuse.
start_pgsvc() {
    local dir=$WORK/pgsvc
    mkdir -p "$dir"
    userlist > "$dir/userlist.txt"
    for _ in 1 2 3 4 5; do
        PORT=$(free_port)
        { pooler_ini "$PORT" "$dir/userlist.txt" ""; [ -z "${PGSVC_SECTIONS:-}" ] || printf '%s\n' "$PGSVC_SECTIONS"; } \
            > "$dir/pooler.ini"
        # shellcheck disable=SC2086 # PGSVC_JAVA_OPTS is a list of options
        (cd "$dir" && exec java $PGSVC_JAVA_OPTS -jar "$WORK/pgsvc-pooler.jar" "$dir/pooler.ini") \
            >> "$dir/pgsvc.log" 2>&1 < /dev/null &
        RUNNER=$! PGSVC_PID=$!
        if await_pooler pgsvc "$dir/pgsvc.log"; then
            PGSVC_PORT=$PORT
            log "pgsvc on 127.0.0.1:$PGSVC_PORT (pid $PGSVC_PID, java ${PGSVC_JAVA_OPTS:-with no options})"
            return 0
        fi
        PGSVC_PID=
    done
    die "pgsvc: no free port after 5 attempts"
}

# start_pgbouncer: PgBouncer in the foreground (PGBOUNCER_PID, PGBOUNCER_PORT; PGBOUNCER_RUNNER is our child,
# runuser as root), its files in $WORK/pgbouncer. Its file limit raised to the hard limit: runuser's PAM session
# resets the soft limit to 1024, too few for max_client_conn.
start_pgbouncer() {
    local dir=$WORK/pgbouncer bin
    bin=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
    [ -x "$bin" ] || die "no pgbouncer; apt-get install -y pgbouncer"
    mkdir -p "$dir"
    [ ${#RUN_AS[@]} -eq 0 ] || chown postgres: "$dir"
    userlist | put "$dir/userlist.txt"
    for _ in 1 2 3 4 5; do
        PORT=$(free_port)
        { pooler_ini "$PORT" "$dir/userlist.txt" "$dir"
          echo "logfile = $dir/pgbouncer.log"
          echo "pidfile = $dir/pgbouncer.pid"
        } | put "$dir/pgbouncer.ini"
        rm -f "$dir/pgbouncer.pid"
        (cd "$dir" && exec "${RUN_AS[@]}" sh -c 'ulimit -n "$(ulimit -Hn)"; exec "$0" "$1"' "$bin" \
            "$dir/pgbouncer.ini") >> "$dir/stderr.log" 2>&1 < /dev/null &
        # Until its pidfile says otherwise, stopping runuser (which passes the signal on) stops PgBouncer.
        RUNNER=$! PGBOUNCER_RUNNER=$! PGBOUNCER_PID=$!
        if await_pooler pgbouncer "$dir/stderr.log"; then
            PGBOUNCER_PORT=$PORT
            PGBOUNCER_PID=$(cat "$dir/pgbouncer.pid")
            log "pgbouncer on 127.0.0.1:$PGBOUNCER_PORT (pid $PGBOUNCER_PID)"
            return 0
        fi
        PGBOUNCER_PID= PGBOUNCER_RUNNER=
    done
    die "pgbouncer: no free port after 5 attempts"
}

# cpu_ticks PID: utime + stime of the whole process (all threads), in clock ticks. The command name may hold
# spaces and parentheses: fields are counted from the last ')'.
cpu_ticks() {
    local stat f
    stat=$(< "/proc/$1/stat")
    read -ra f <<< "${stat##*) }"
    echo $(( f[11] + f[12] ))
}

# rss_kb PID: VmRSS in kB.
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
# PSS: each physical page once. ZGC (JDK 17) maps its heap three times, so its RSS counts heap pages up to thrice.
pss_kb() { awk '/^Pss:/ { print $2 }' "/proc/$1/smaps_rollup"; }

# machine_info: markdown lines naming the machine and the software.
machine_info() {
    local pgb
    pgb=$("$(command -v pgbouncer || echo /usr/sbin/pgbouncer)" --version 2>/dev/null | head -n 1) || true
    echo "- CPU: $(nproc) cores, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
    echo "- memory: $(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
    echo "- kernel: $(uname -sr)"
    echo "- Java: $(java -version 2>&1 | head -n 2 | tail -n 1)"
    echo "- PostgreSQL: $("$PG_BIN/postgres" --version)"
    echo "- PgBouncer: ${pgb:-not installed}"
    echo "- load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
}

# mode_script MODE: pgbench's arguments for a load, in SCRIPT: simple, extended and prepared are -S -M MODE, tpcb
# is pgbench's default script, connect is -C -S (a login per transaction).
mode_script() {
    case $1 in
        simple | extended | prepared) SCRIPT=(-S -M "$1") ;;
        tpcb) SCRIPT=() ;;
        connect) SCRIPT=(-C -S) ;;
        *) die "unknown MODE '$1' (simple extended prepared tpcb connect)" ;;
    esac
}

# jcmd PID ARGS...: the JDK's jcmd, next to the java we run.
jcmd_pid() { "$(dirname "$(readlink -f "$(command -v java)")")/jcmd" "$@"; }

# heap_used_kb PID: the JVM's used heap in kB after a full collection. GC.heap_info's layout differs per collector:
# "used 1234K" (Serial, Parallel, G1), "used 12M," (ZGC), "1234K used" (Shenandoah); Metaspace is not heap.
heap_used_kb() {
    jcmd_pid "$1" GC.run >/dev/null
    heap_now_kb "$1"
}

# heap_now_kb PID: the JVM's used heap in kB as it stands, garbage included.
heap_now_kb() {
    jcmd_pid "$1" GC.heap_info | awk '
        function kb(v,  u) { sub(/,$/, "", v); if (v !~ /^[0-9]+[KMG]?$/) return 0; u = substr(v, length(v))
                             return u == "G" ? v * 1048576 : u == "M" ? v * 1024 : u == "K" ? v + 0 : v / 1024 }
        /Metaspace|class space|eden space|from space|to space|object space/ { next }
        { for (i = 2; i <= NF; i++) if ($i == "used") s += i < NF ? kb($(i + 1)) : kb($(i - 1)) }
        END { printf "%d\n", s }'
}

idle_header() {
    echo "| pooler | idle clients | RSS before MB | RSS after MB | RSS per client KB |" \
        "RSS per client KB, 2nd half | PSS per client KB | PSS per client KB, 2nd half | heap before MB |" \
        "heap after MB | heap per client KB |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
}

# idle_open LABEL PORT COUNT PART: one IdleClients process (its pid appended to HELPER_PIDS) holding COUNT clients;
# IDLE_OPENED is how many it opened. Not to be called in $(...): HELPER_PIDS must reach the EXIT trap.
idle_open() {
    local label=$1 port=$2 count=$3 out=$WORK/idle-$1-$4.out
    java -Xmx256m -cp "$WORK/idle" IdleClients 127.0.0.1 "$port" "$BENCH_USER" "$BENCH_PASSWORD" pgbench "$count" \
        > "$out" 2>&1 &
    local client=$!
    HELPER_PIDS+=("$client")
    local deadline=$((SECONDS + 600))
    until grep -q '^ready' "$out"; do
        kill -0 "$client" 2>/dev/null || { cat "$out" >&2; die "the idle client exited"; }
        [ "$SECONDS" -lt "$deadline" ] || die "timed out after 600s waiting for $count idle clients"
        sleep 0.2
    done
    grep -q 'failed=0' "$out" || log "$label: $(grep '^ready' "$out")"
    IDLE_OPENED=$(sed -n 's/^ready opened=\([0-9]*\).*/\1/p' "$out")
}

# idle_sample PID JVM: "rss_kb heap_kb pss_kb" (heap "-" unless JVM is 1). The heap is read first, after a full
# collection that jcmd asks for; memory IDLE_SETTLE seconds (35) later, the same for every sample, by when an idle
# pgsvc would have collected on its own too (Shenandoah's compact mode collects at least every 30 s and hands
# emptied regions back to the OS a second later).
idle_sample() {
    sleep 2
    local heap=-
    [ "$2" = 0 ] || heap=$(heap_used_kb "$1")
    sleep "${IDLE_SETTLE:-35}"
    echo "$(rss_kb "$1") $heap $(pss_kb "$1")"
}

# idle_measure LABEL PORT PID COUNT: opens COUNT idle logged-in clients on the pooler (perf/IdleClients.java, in
# two halves) and prints a markdown row: its RSS (and, for a JVM, its heap after a full GC) before and after, and
# the growth per client over all and over the second half (which leaves out one-off costs: a young generation or
# an allocator arena touched for the first time). The clients log in as the bench user with md5.
idle_measure() {
    local label=$1 port=$2 pid=$3 count=$4 jvm=0 half=$(($4 / 2))
    [ "$(basename "$(readlink -f "/proc/$pid/exe")")" != java ] || jvm=1
    if [ ! -f "$WORK/idle/IdleClients.class" ]; then
        javac -d "$WORK/idle" "$REPO/perf/IdleClients.java"
    fi
    local rss0 rss1 rss2 heap0 heap1 heap2 pss0 pss1 pss2 opened1 opened2
    read -r rss0 heap0 pss0 < <(idle_sample "$pid" "$jvm")
    log "$label: opening $count idle clients"
    idle_open "$label" "$port" "$half" 1
    opened1=$IDLE_OPENED
    read -r rss1 heap1 pss1 < <(idle_sample "$pid" "$jvm")
    idle_open "$label" "$port" $((count - half)) 2
    opened2=$IDLE_OPENED
    read -r rss2 heap2 pss2 < <(idle_sample "$pid" "$jvm")
    stop_helpers
    awk -v l="$label" -v n="$count" -v o1="$opened1" -v o2="$opened2" -v r0="$rss0" -v r1="$rss1" -v r2="$rss2" \
        -v h0="$heap0" -v h2="$heap2" -v p0="$pss0" -v p1="$pss1" -v p2="$pss2" 'BEGIN {
        o = o1 + o2
        printf "| %s | %s | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %s | %s | %s |\n", l,
            (o == n ? n : o "/" n " opened"),
            r0 / 1024, r2 / 1024, (r2 - r0) / (o ? o : 1), (r2 - r1) / (o2 ? o2 : 1),
            (p2 - p0) / (o ? o : 1), (p2 - p1) / (o2 ? o2 : 1),
            h0 == "-" ? "-" : sprintf("%.1f", h0 / 1024), h2 == "-" ? "-" : sprintf("%.1f", h2 / 1024),
            h0 == "-" ? "-" : sprintf("%.2f", (h2 - h0) / (o ? o : 1)) }'
}
