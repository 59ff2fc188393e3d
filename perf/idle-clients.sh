#!/usr/bin/env bash
# perf/idle-clients.sh: what an idle logged-in client costs pgsvc and PgBouncer. Starts a throwaway PostgreSQL
# primary (perf/lib.sh), both poolers with perf/bench.sh's settings, and for each pooler opens IDLE connections
# with perf/IdleClients.java (md5 login, then nothing), and prints RSS (and pgsvc's heap after a full GC) before
# and after, per client. perf/bench.sh runs the same measurement after its pgbench runs.
#
#   perf/idle-clients.sh                 # 10,000 clients per pooler
#   IDLE=2000 perf/idle-clients.sh
#
# Env: IDLE, TARGETS ("pgbouncer pgsvc"), PGSVC_JAVA_OPTS, PGSVC_JAR, PG_BIN. Output also in perf/out/idle-*/.
set -euo pipefail

IDLE=${IDLE:-10000}
TARGETS=${TARGETS:-"pgbouncer pgsvc"}
POOL_AUTH_TYPE=md5
POOL_SIZE=20
MAX_CLIENT_CONN=11000
NAME=idle-clients
# shellcheck source=perf/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$REPO"
PGSVC_JAVA_OPTS=${PGSVC_JAVA_OPTS:-$PGSVC_BENCH_JAVA_OPTS}
OUT=$REPO/perf/out/idle-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"

sandbox_on_exit() {
    cp "$WORK"/*.log "$WORK"/idle-*.out "$WORK"/pgsvc/pgsvc.log "$WORK"/pgbouncer/pgbouncer.log "$OUT"/ \
        2>/dev/null || true
    [ "$1" -eq 0 ] || log "failed (exit $1); logs in $OUT"
}

sandbox_init pooler
start_cluster 0 noreplica
{
    echo "Idle clients, $(date -u '+%Y-%m-%d %H:%M UTC'); pgsvc: \`java $PGSVC_JAVA_OPTS\`"
    echo
    idle_header
} > "$OUT/report.md"
# Not in a pipeline or $(...): the pids the functions record must reach the EXIT trap.
for target in $TARGETS; do
    case $target in
        pgbouncer)
            start_pgbouncer
            idle_measure pgbouncer "$PGBOUNCER_PORT" "$PGBOUNCER_PID" "$IDLE" >> "$OUT/report.md" ;;
        pgsvc)
            start_pgsvc
            idle_measure pgsvc "$PGSVC_PORT" "$PGSVC_PID" "$IDLE" >> "$OUT/report.md" ;;
        *) die "unknown target '$target' (pgbouncer, pgsvc)" ;;
    esac
    stop_poolers
done
cat "$OUT/report.md"
