#!/usr/bin/env bash
# perf/gc.sh: which collector and heap settings pgsvc's launcher should use. Starts the sandbox primary
# (perf/lib.sh), then for each JVM option set in turn starts pgsvc, warms it up, runs pgbench through it and reports
# tps, pgsvc's CPU per transaction, its longest and its 99th-percentile GC pause (from -Xlog:safepoint, which times
# every stop of the Java threads, whatever the collector), and its PSS before and after the load.
#
#   perf/gc.sh
#   CLIENTS=1000 MODE=tpcb perf/gc.sh          # where the stop-the-world collectors paused longest
#   OPTION_SETS="-XX:+UseZGC|-XX:+UseG1GC" perf/gc.sh
#
# Env: OPTION_SETS (option sets separated by |), CLIENTS (100), DURATION (20), MODE (simple extended prepared tpcb;
# connect is -C -S, a login per transaction, the most garbage per transaction), SCALE (10),
# RATE (pgbench -R: transactions per second in all, none by default).
# Output in perf/out/gc-*/ (one pgsvc log with its safepoint lines per option set).
set -euo pipefail

CLIENTS=${CLIENTS:-100}
DURATION=${DURATION:-20}
MODE=${MODE:-simple}
SCALE=${SCALE:-10}
OPTION_SETS=${OPTION_SETS:-"-XX:+UseShenandoahGC -XX:ShenandoahGCHeuristics=compact -Xms32m -Xmx512m -XX:TrimNativeHeapInterval=5000 -XX:+UnlockExperimentalVMOptions -XX:-ShenandoahPacing -XX:ShenandoahControlIntervalMax=100 -XX:-UsePerfData|-XX:+UseShenandoahGC -XX:ShenandoahGCHeuristics=compact -Xms32m -Xmx512m|-XX:+UseZGC -Xms64m -Xmx512m -XX:SoftMaxHeapSize=128m|-XX:+UseZGC -Xmx512m|-XX:+UseG1GC -Xms64m -Xmx512m|-XX:+UseParallelGC -Xmx512m|-XX:+UseSerialGC -Xmx512m"}
POOL_AUTH_TYPE=md5
POOL_SIZE=20
MAX_CLIENT_CONN=11000
NAME=gc
# shellcheck source=perf/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$REPO"
OUT=$REPO/perf/out/gc-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"

sandbox_init pooler
start_cluster "$SCALE" noreplica
mode_script "$MODE"
MODE_ARGS=("${SCRIPT[@]}")
# A fixed rate compares CPU per transaction with the machine short of saturation, where the collectors' own
# threads and pgbench do not crowd each other: the figure then moves less between runs.
[ -z "${RATE:-}" ] || MODE_ARGS+=(-R "$RATE")

# pause_stats LOG FROM: "max p99 count" of the safepoint pauses (ms) the log recorded after its line FROM.
pause_stats() {
    tail -n +"$(($2 + 1))" "$1" \
        | sed -n 's/.*Total: \([0-9]*\) ns.*/\1/p' | sort -n \
        | awk '{ v[NR] = $1 } END {
            if (NR == 0) { print "0 0 0"; exit }
            i = int(NR * 0.99); if (i < 1) i = 1
            printf "%.2f %.2f %d\n", v[NR] / 1e6, v[i] / 1e6, NR }'
}

{
    echo "## GC settings (pgbench ${MODE_ARGS[*]:-tpcb} -c $CLIENTS, $DURATION s, $(date -u '+%Y-%m-%d %H:%M UTC'))"
    echo
    echo "pgsvc in transaction pooling, pool $POOL_SIZE, one option set after another, each warmed up for" \
        "${WARMUP:-5} s first. Pauses are every stop of the Java threads (\`-Xlog:safepoint\`), GC or not."
    echo
    echo "| JVM options | tps | pgsvc CPU µs/txn | longest pause ms | p99 pause ms | pauses | PSS before MB | PSS after MB |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
} > "$OUT/report.md"

IFS='|' read -ra sets <<< "$OPTION_SETS"
n=0
for opts in "${sets[@]}"; do
    n=$((n + 1))
    PGSVC_JAVA_OPTS="$opts -Xlog:safepoint:file=$WORK/safepoint-$n.log:uptime"
    start_pgsvc
    log "[$opts] warm-up"
    PGPASSWORD=$BENCH_PASSWORD "$PGBENCH" -n "${MODE_ARGS[@]}" -c "$CLIENTS" -j 2 -T "${WARMUP:-5}" -h 127.0.0.1 \
        -p "$PGSVC_PORT" -U "$BENCH_USER" pgbench > /dev/null 2>&1 || true
    from=$(wc -l < "$WORK/safepoint-$n.log")
    pss0=$(pss_kb "$PGSVC_PID")
    cpu0=$(cpu_ticks "$PGSVC_PID")
    out=$OUT/pgbench-$n.out
    if PGPASSWORD=$BENCH_PASSWORD "$PGBENCH" -n "${MODE_ARGS[@]}" -c "$CLIENTS" -j 2 -T "$DURATION" -h 127.0.0.1 \
            -p "$PGSVC_PORT" -U "$BENCH_USER" pgbench > "$out" 2>&1; then
        cpu1=$(cpu_ticks "$PGSVC_PID")
        pss1=$(pss_kb "$PGSVC_PID")
        txns=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$out")
        tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$out")
        read -r pmax p99 pcount < <(pause_stats "$WORK/safepoint-$n.log" "$from")
        hz=$(getconf CLK_TCK)
        awk -v o="$opts" -v t="$tps" -v c=$((cpu1 - cpu0)) -v hz="$hz" -v x="$txns" -v m="$pmax" -v p="$p99" \
            -v k="$pcount" -v a="$pss0" -v b="$pss1" 'BEGIN {
            printf "| `%s` | %.0f | %.1f | %s | %s | %s | %.0f | %.0f |\n", o, t, c / hz * 1e6 / x, m, p, k,
                a / 1024, b / 1024 }' >> "$OUT/report.md"
    else
        echo "| \`$opts\` | failed | | | | | | |" >> "$OUT/report.md"
    fi
    cp "$WORK/safepoint-$n.log" "$OUT/"
    stop_poolers
    log "[$opts] done"
done
{ echo; machine_info; } >> "$OUT/report.md"
cat "$OUT/report.md"
