#!/usr/bin/env bash
# perf/sandbox.sh: pgbench -S through pgsvc and straight to PostgreSQL, side by side, on a throwaway primary and
# streaming replica on loopback. Nothing outside a temp dir is touched; results and logs go to perf/out/.
#
#   perf/sandbox.sh                          # 50 clients, 15 s, scale 10
#   CLIENTS=100 DURATION=30 SCALE=20 perf/sandbox.sh
#   SANDBOX_DIRECT_ONLY=1 perf/sandbox.sh    # PostgreSQL only: no jar, no pooler
#
# Env: CLIENTS, DURATION (s), SCALE, JOBS (pgbench threads), PG_BIN (server binaries), PGSVC_JAR, JAVA_OPTS (pgsvc's
# JVM options; the README's launcher options when unset, the JVM's defaults when set empty).
# The sandbox itself is perf/lib.sh's; perf/bench.sh is the full benchmark (PgBouncer too, several modes).
set -euo pipefail

CLIENTS=${CLIENTS:-50}
DURATION=${DURATION:-15}
SCALE=${SCALE:-10}
JOBS=${JOBS:-2}
SANDBOX_DIRECT_ONLY=${SANDBOX_DIRECT_ONLY:-0}
NAME=sandbox
# shellcheck source=perf/lib.sh
. "$(dirname "$0")/lib.sh"
PGSVC_JAVA_OPTS=${JAVA_OPTS-$PGSVC_BENCH_JAVA_OPTS}
cd "$REPO"
OUT=$REPO/perf/out/sandbox-$(date +%Y%m%d-%H%M%S)

sandbox_on_exit() {
    mkdir -p "$OUT"
    cp "$WORK"/*.log "$WORK"/pgsvc/pgsvc.log "$WORK"/pgsvc/pooler.ini "$OUT"/ 2>/dev/null || true
    [ "$1" -eq 0 ] || log "failed (exit $1); logs in $OUT"
}

if [ "$SANDBOX_DIRECT_ONLY" = 1 ]; then sandbox_init; else sandbox_init pooler; fi
start_cluster "$SCALE"
[ "$SANDBOX_DIRECT_ONLY" = 1 ] || start_pgsvc

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

[ "$SANDBOX_DIRECT_ONLY" = 1 ] || bench pgsvc "$PGSVC_PORT"
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
