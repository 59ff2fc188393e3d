#!/usr/bin/env bash
# perf/soak.sh: pgsvc under a mixed load while operators and failures do their worst. Starts the sandbox primary and
# streaming replica (perf/lib.sh) and pgsvc with Pigsty's pooled primary and replica services (the replica's backup
# is the primary), then for DURATION seconds runs two pgbench loads at once: TPC-B through the pooler port and
# read-only -S through the replica service. Meanwhile, on a schedule: PAUSE/RESUME on the console, RELOAD, and one
# restart of the replica. At the end it reports each load's transactions and failures (pgbench's failed
# transactions and aborted clients), pgsvc's RSS over time, and the events, in perf/out/soak-*/report.md.
#
#   perf/soak.sh                   # 10 minutes
#   DURATION=300 perf/soak.sh
#
# Expected failures: a replica restart ends the sessions linked to the replica at that moment (PostgreSQL closes
# them), and pgbench aborts such a client; nothing else should fail.
set -euo pipefail

DURATION=${DURATION:-600}
CLIENTS=${CLIENTS:-20}
SCALE=${SCALE:-10}
POOL_AUTH_TYPE=md5
POOL_SIZE=20
MAX_CLIENT_CONN=11000
NAME=soak
# shellcheck source=perf/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$REPO"
PGSVC_JAVA_OPTS=${PGSVC_JAVA_OPTS:-$PGSVC_BENCH_JAVA_OPTS}
OUT=$REPO/perf/out/soak-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"

sandbox_on_exit() {
    cp "$WORK"/pgsvc/pgsvc.log "$WORK"/replica.log "$OUT"/ 2>/dev/null || true
}

console() { PGPASSWORD=$SUPERUSER_PASSWORD "$PSQL" -X -A -t -h 127.0.0.1 -p "$PGSVC_PORT" -U postgres -d pgbouncer \
    -c "$1" > /dev/null; }
event() { echo "$((SECONDS - START)) s: $*" >> "$OUT/events.txt"; log "$*"; }

sandbox_init pooler
start_cluster "$SCALE"

REPLICA_SERVICE=$(free_port)
POOLER_EXTRA="query_wait_timeout = 120"
PGSVC_SECTIONS="
[hosts]
m1 = host=127.0.0.1 port=$PRIMARY_PORT
m2 = host=127.0.0.1 port=$REPLICA_PORT

[services]
replica = port=$REPLICA_SERVICE role=replica backup=primary dest=pooler

[router]
check_user = postgres
check_interval = 1
check_fast_interval = 0.5
check_down_interval = 1"
start_pgsvc
wait_until 60 "the replica service answers" psql_bench "$REPLICA_SERVICE"

START=$SECONDS
: > "$OUT/events.txt"
PGPASSWORD=$BENCH_PASSWORD "$PGBENCH" -n -c "$CLIENTS" -j 1 -T "$DURATION" -P 30 -h 127.0.0.1 -p "$PGSVC_PORT" \
    -U "$BENCH_USER" pgbench > "$OUT/tpcb.out" 2>&1 &
TPCB=$!
PGPASSWORD=$BENCH_PASSWORD "$PGBENCH" -n -S -c "$CLIENTS" -j 1 -T "$DURATION" -P 30 -h 127.0.0.1 \
    -p "$REPLICA_SERVICE" -U "$BENCH_USER" pgbench > "$OUT/replica.out" 2>&1 &
READS=$!
HELPER_PIDS+=("$TPCB" "$READS")

# RSS as ps shows it, and PSS (each page once: JDK 17's ZGC maps its heap three times and RSS counts every mapping);
# once a minute also the live heap, after a (concurrent, with ZGC or Shenandoah) collection that jcmd asks for.
echo "seconds rss_mb pss_mb" > "$OUT/rss.txt"
echo "seconds heap_mb" > "$OUT/heap.txt"
restarted=0
while kill -0 "$TPCB" 2>/dev/null || kill -0 "$READS" 2>/dev/null; do
    t=$((SECONDS - START))
    echo "$t $(rss_kb "$PGSVC_PID") $(pss_kb "$PGSVC_PID")" | awk '{ printf "%s %.1f %.1f\n", $1, $2 / 1024, $3 / 1024 }' \
        >> "$OUT/rss.txt"
    if [ $((t % 60)) -lt 10 ]; then
        echo "$t $(heap_used_kb "$PGSVC_PID")" | awk '{ printf "%s %.1f\n", $1, $2 / 1024 }' >> "$OUT/heap.txt"
    fi
    if [ $((t % 60)) -lt 10 ] && [ "$t" -ge 60 ] && [ "$t" -lt $((DURATION - 20)) ]; then
        event "PAUSE"; console "PAUSE" || event "PAUSE failed"
        sleep 2
        event "RESUME"; console "RESUME" || event "RESUME failed"
    fi
    if [ $((t % 90)) -ge 40 ] && [ $((t % 90)) -lt 50 ] && [ "$t" -lt $((DURATION - 20)) ]; then
        event "RELOAD"; console "RELOAD" || event "RELOAD failed"
    fi
    if [ "$restarted" = 0 ] && [ "$t" -ge $((DURATION / 2)) ]; then
        event "replica restart (pg_ctl restart -m fast)"
        as_pg "$PG_BIN/pg_ctl" -D "$WORK/replica/data" -l "$WORK/replica.log" -w -t 60 restart -m fast > /dev/null
        event "replica back"
        restarted=1
    fi
    sleep 10
done
wait "$TPCB" || true
wait "$READS" || true
HELPER_PIDS=()

summary() { # FILE
    local tx failed aborted tps
    tx=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$1")
    failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$1")
    aborted=$(grep -c 'aborted' "$1" || true)
    tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$1")
    echo "| ${tx:-?} | ${tps:-?} | ${failed:-?} | $aborted |"
}
{
    echo "## Soak: $DURATION s, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "Two pgbench loads of $CLIENTS clients each for $DURATION s: TPC-B through the pooler port (primary) and"
    echo "-S through the replica service (backup: primary); PAUSE/RESUME every minute, RELOAD every 90 s, one replica"
    echo "restart half way. pgsvc: \`java $PGSVC_JAVA_OPTS\`."
    echo
    echo "| load | transactions | tps | failed transactions | client aborts (pgbench lines) |"
    echo "|---|---:|---:|---:|---:|"
    echo "| TPC-B via 6432-style port $(summary "$OUT/tpcb.out")"
    echo "| -S via replica service $(summary "$OUT/replica.out")"
    echo
    for col in 2:RSS 3:PSS; do
        awk -v c="${col%%:*}" -v name="${col#*:}" -v half=$((DURATION / 2)) 'NR > 1 {
            v = $c; if (min == "" || v < min) min = v; if (v > max) max = v; if (NR == 2) first = v; last = v
            if ($1 >= half && mid == "") mid = v }
            END { printf "%s: first sample %s MB, at half time %s MB, last %s MB (min %s, max %s).\n", name, first,
                mid, last, min, max }' "$OUT/rss.txt"
    done
    echo
    echo "Live heap once a minute (MB): $(awk 'NR > 1 { printf "%s%s s: %s", sep, $1, $2; sep = ", " }' "$OUT/heap.txt")."
    echo
    echo "Events:"
    echo
    sed 's/^/- /' "$OUT/events.txt"
    echo
    echo "Client errors reported by pgbench (first 10):"
    echo
    grep -h -i 'error\|aborted' "$OUT/tpcb.out" "$OUT/replica.out" | head -n 10 | sed 's/^/    /'
} | tee "$OUT/report.md"
