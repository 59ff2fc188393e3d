#!/usr/bin/env bash
# perf/threads.sh: pgsvc's CPU and wake-ups per thread under pgbench, and what it allocates. Starts the sandbox
# primary (perf/lib.sh) and pgsvc, runs pgbench through it, and after SETTLE seconds of load reads every thread's
# CPU time and voluntary context switches (its wake-ups) from /proc over WINDOW seconds. It also reads the heap's
# used size before and after that window: it only grows while pgsvc allocates, as no collection runs in between
# unless one is logged.
#
#   perf/threads.sh                          # pgbench -S -M simple, 10 clients
#   MODE=tpcb CLIENTS=100 perf/threads.sh
#
# Env: MODE (simple extended prepared tpcb; connect is -C -S), CLIENTS (10), SETTLE (35 s: past the collection that
# Shenandoah's compact mode runs 30 s after start), WINDOW (10 s),
# SCALE (10), PGSVC_JAVA_OPTS (perf/lib.sh's bench options), JFR (1: also record JFR's allocation samples over the
# window and print the stacks that allocated the most). Starting JFR sets the JIT compiling again, and until it is
# done the event loop allocates what compiled code does not; so with JFR=1 the heap figures and the samples show
# more allocation than pgsvc does alone, and only the stacks are worth reading.
set -euo pipefail

MODE=${MODE:-simple}
CLIENTS=${CLIENTS:-10}
SETTLE=${SETTLE:-35}
WINDOW=${WINDOW:-10}
SCALE=${SCALE:-10}
POOL_AUTH_TYPE=md5
POOL_SIZE=20
MAX_CLIENT_CONN=11000
NAME=threads
# shellcheck source=perf/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$REPO"

mode_script "$MODE"

# snapshot PID: "tid:name voluntary_switches cpu_ticks" per thread, sorted by the first field.
snapshot() {
    local t
    for t in /proc/"$1"/task/*; do
        printf '%s:%s %s %s\n' "${t##*/}" "$(tr ' ' _ < "$t/comm")" \
            "$(awk '/^voluntary_ctxt_switches/ { print $2 }' "$t/status")" \
            "$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "$t/stat")"
    done | sort
}

sandbox_init pooler
GC_LOG=$WORK/gc.log
PGSVC_JAVA_OPTS="${PGSVC_JAVA_OPTS:-$PGSVC_BENCH_JAVA_OPTS} -Xlog:gc:file=$GC_LOG"
start_cluster "$SCALE" noreplica
start_pgsvc
log "pgbench ${SCRIPT[*]} -c $CLIENTS -j 2 through pgsvc; threads read from $SETTLE s to $((SETTLE + WINDOW)) s"
PGPASSWORD=$BENCH_PASSWORD "$PGBENCH" -n "${SCRIPT[@]}" -c "$CLIENTS" -j 2 -T "$((SETTLE + WINDOW + 2))" \
    -h 127.0.0.1 -p "$PGSVC_PORT" -U "$BENCH_USER" pgbench > "$WORK/pgbench.out" 2>&1 &
BENCH_PID=$!
sleep "$SETTLE"
JFR_FILE=$WORK/alloc.jfr
[ "${JFR:-0}" != 1 ] || jcmd_pid "$PGSVC_PID" JFR.start name=alloc settings=profile filename="$JFR_FILE" > /dev/null
heap0=$(heap_now_kb "$PGSVC_PID")
gc0=$(grep -c Pause "$GC_LOG" || true)
snapshot "$PGSVC_PID" > "$WORK/threads0"
sleep "$WINDOW"
snapshot "$PGSVC_PID" > "$WORK/threads1"
heap1=$(heap_now_kb "$PGSVC_PID")
gc1=$(grep -c Pause "$GC_LOG" || true)
[ "${JFR:-0}" != 1 ] || jcmd_pid "$PGSVC_PID" JFR.stop name=alloc > /dev/null
wait "$BENCH_PID" || { cat "$WORK/pgbench.out" >&2; die "pgbench failed"; }
BENCH_PID=
grep -E '^tps' "$WORK/pgbench.out" >&2 || true
tck=$(getconf CLK_TCK)
join "$WORK/threads0" "$WORK/threads1" | awk -v w="$WINDOW" -v tck="$tck" '
    { wakes = ($4 - $2) / w; ms = ($5 - $3) * 1000 / tck / w
      if (wakes > 0 || ms > 0) printf "%-30s %9.1f wake-ups/s %8.1f ms CPU/s\n", $1, wakes, ms }'
echo "heap used: $heap0 kB before, $heap1 kB after ($((gc1 - gc0)) collection pauses in between)"
if [ "${JFR:-0}" = 1 ]; then
    # Each sample's weight is the bytes its thread allocated since its last sample; summed per top frames.
    jfr print --events jdk.ObjectAllocationSample --stack-depth 4 "$JFR_FILE" | awk '
        /jdk.ObjectAllocationSample/ { on = 1; w = 0; stack = ""; n = 0; next }
        on && /weight = / { w = $3; u = $4; w *= u == "kB" ? 1024 : u == "MB" ? 1048576 : u == "GB" ? 1073741824 : 1 }
        on && /line:/ && n < 3 { stack = stack (n ? " <- " : "") $1; n++ }
        on && /^}/ { bytes[stack] += w; on = 0 }
        END { for (s in bytes) printf "%12.0f bytes  %s\n", bytes[s], s | "sort -rn | head -10" }'
fi
stop_poolers
