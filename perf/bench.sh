#!/usr/bin/env bash
# perf/bench.sh: the benchmark of issue 7. Builds the jar when it is missing or stale, starts the sandbox of
# perf/lib.sh (a throwaway PostgreSQL primary and streaming replica on loopback, tuned for benchmarks: no fsync,
# no checkpoint during a run), PgBouncer (when installed) and pgsvc with the same settings, and runs pgbench against
# PostgreSQL directly, PgBouncer and pgsvc, alternating targets within each round so that drift hits all alike.
# Then it opens IDLE idle logged-in clients on each pooler (perf/IdleClients.java) and reports memory per client.
#
#   perf/bench.sh                                            # the full run: about 50 minutes with the defaults
#   DURATION=5 CLIENTS="10 100" ROUNDS=1 IDLE=2000 perf/bench.sh     # a smoke run
#
# Env:
#   DURATION  seconds per pgbench run (20)          CLIENTS  client counts ("10 100 1000")
#   MODES     "simple extended prepared tpcb": pgbench -S -M simple|extended|prepared, and the TPC-B-like default
#   ROUNDS    alternation rounds (2); the table shows means over the rounds that did not fail
#   SCALE     pgbench -i scale (10)                 JOBS     pgbench threads (2)
#   TARGETS   "direct pgbouncer pgsvc"              IDLE     idle clients per pooler (10000; 0 skips)
#   WARMUP    seconds of pgbench per mode and client count through each pooler after it starts, not reported
#             (3; 0 skips): the JIT's work. One mode and count is not enough: the first logins, the first queueing
#             at 1000 clients and the first extended-protocol run each send the JIT back to recompile hot code,
#             which then costs pgsvc several µs of CPU per transaction for the length of a run.
#   RAMP      seconds each run gets before its measured DURATION, for connecting (2 + clients / 50)
#   PGSVC_JAVA_OPTS  pgsvc's JVM options (default: PGSVC_BENCH_JAVA_OPTS in perf/lib.sh, see below)
#   PGSVC_JAR a jar to run as it is (no build)     PG_BIN   PostgreSQL's server binaries
#   NOTE      a line printed under the report's title (e.g. "smoke run on a busy machine")
#   PUBLISH   1: also put the report into perf/RESULTS.md, between its "latest run" markers
#
# Each run is pgbench -T RAMP+DURATION with a per-transaction log (-l); tps, latency average and p99 and the
# pooler's CPU cover its last DURATION seconds, after every client connected (1000 SCRAM logins straight to
# PostgreSQL take seconds on 2 cores, and pgbench 15 counts them in -T). Every run starts alike: pgbench_branches
# and pgbench_tellers vacuumed, pgbench_history empty, a fresh checkpoint (straight on the primary; pgbench -n).
# Both poolers: pool_mode=transaction, default_pool_size=20, max_client_conn=11000, auth_type=md5 with one
# plain-password userlist (md5 rather than SCRAM keeps the clients' logins cheap), logging in to PostgreSQL with
# SCRAM; max_prepared_statements at its default. The pooler's CPU is utime+stime of its process (all threads) from
# /proc/PID/stat, sampled every 0.2 s; its RSS is VmRSS after the run. A run that fails (PgBouncer 1.18 has no
# prepared statements) is reported as failed with pgbench's error; so is a pooler that does not answer.
#
# pgsvc's JVM: Shenandoah in its compact mode with a small starting heap (why: PGSVC_BENCH_JAVA_OPTS in perf/lib.sh,
# perf/RESULTS.md). Its GC pauses are logged (gc.log in the output) and the longest pause of each run is in the
# table ("none": no collection).
#
# Output: perf/out/bench-TIMESTAMP/ (report.md, raw.txt, every run's pgbench output, the poolers' and
# PostgreSQL's logs); report.md is printed and appended to perf/out/results.md, and with PUBLISH=1 replaces the
# latest run in perf/RESULTS.md. Never part of CI's tests: nothing here asserts a time.
set -euo pipefail

DURATION=${DURATION:-20}
CLIENTS=${CLIENTS:-"10 100 1000"}
MODES=${MODES:-"simple extended prepared tpcb"}
ROUNDS=${ROUNDS:-2}
SCALE=${SCALE:-10}
JOBS=${JOBS:-2}
TARGETS=${TARGETS:-"direct pgbouncer pgsvc"}
IDLE=${IDLE:-10000}
WARMUP=${WARMUP:-3}
POOL_AUTH_TYPE=md5
POOL_SIZE=20
MAX_CLIENT_CONN=11000
NAME=bench
# shellcheck source=perf/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$REPO"
PGSVC_JAVA_OPTS=${PGSVC_JAVA_OPTS:-$PGSVC_BENCH_JAVA_OPTS}

# Direct runs need a PostgreSQL connection per client.
max_clients=$(printf '%s\n' $CLIENTS | sort -n | tail -n 1)
MAX_CONNECTIONS=$(( max_clients + 100 > 300 ? max_clients + 100 : 300 ))
for target in $TARGETS; do
    case $target in
        direct|pgsvc) ;;
        pgbouncer)
            if ! command -v pgbouncer >/dev/null && [ ! -x /usr/sbin/pgbouncer ]; then
                log "pgbouncer is not installed (apt-get install -y pgbouncer): no PgBouncer runs"
                TARGETS=${TARGETS//pgbouncer/}
            fi ;;
        *) die "unknown target '$target' (direct, pgbouncer, pgsvc)" ;;
    esac
done
for mode in $MODES; do
    case $mode in
        simple|extended|prepared|tpcb) ;;
        *) die "unknown mode '$mode' (simple extended prepared tpcb)" ;;
    esac
done
CLK_TCK=$(getconf CLK_TCK)
OUT=$REPO/perf/out/bench-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"

sandbox_on_exit() {
    cp "$WORK"/*.log "$WORK"/idle-*.out "$OUT"/ 2>/dev/null || true
    cp "$WORK"/pgsvc/pgsvc.log "$WORK"/pgsvc/gc.log "$WORK"/pgsvc/pooler.ini "$OUT"/ 2>/dev/null || true
    cp "$WORK"/pgbouncer/pgbouncer.log "$WORK"/pgbouncer/pgbouncer.ini "$OUT"/ 2>/dev/null || true
    [ "$1" -eq 0 ] || log "failed (exit $1); logs in $OUT"
}

sandbox_init pooler
MACHINE=$(machine_info)
# Appended here, not in the defaults: $WORK exists only now. Pause lines from every collector: [gc] for the
# stop-the-world ones and Shenandoah's, [gc,phases] for ZGC's.
PGSVC_JAVA_OPTS="$PGSVC_JAVA_OPTS -Xlog:gc,gc+phases:file=$WORK/pgsvc/gc.log:uptime"
GC_LOG=$WORK/pgsvc/gc.log
start_cluster "$SCALE"
start_poolers() {
    case " $TARGETS " in *" pgbouncer "*) start_pgbouncer ;; esac
    case " $TARGETS " in *" pgsvc "*) start_pgsvc ;; esac
    return 0
}
start_poolers

# Warm-up: pgsvc's first seconds of each kind of load go to the JIT compiler; PgBouncer gets the same for fairness.
for target in $TARGETS; do
    [ "$WARMUP" -gt 0 ] || break
    case $target in pgbouncer) port=$PGBOUNCER_PORT ;; pgsvc) port=$PGSVC_PORT ;; *) continue ;; esac
    log "warm-up: $WARMUP s of pgbench per mode and client count through $target"
    for mode in $MODES; do
        case $mode in tpcb) args=(-M simple) ;; *) args=(-S -M "$mode") ;; esac
        for clients in $CLIENTS; do
            PGPASSWORD=$BENCH_PASSWORD "$PGBENCH" "${args[@]}" -n -c "$clients" -j "$JOBS" \
                -T $((${RAMP:-$((2 + clients / 50))} + WARMUP)) -h 127.0.0.1 -p "$port" -U "$BENCH_USER" pgbench \
                > "$WORK/warmup-$target.log" 2>&1 &
            BENCH_PID=$!
            wait "$BENCH_PID" \
                || log "warm-up through $target failed: $(grep -m 1 -i error "$WORK/warmup-$target.log")"
            BENCH_PID=
        done
    done
done

# gc_max_ms FROM_LINE: the longest pause logged from line FROM_LINE + 1 of the GC log, "none" when none.
gc_max_ms() {
    tail -n +"$(($1 + 1))" "$GC_LOG" 2>/dev/null | awk '
        /Pause/ && $NF ~ /^[0-9.]+ms$/ { v = $NF + 0; if (v > max) max = v; n++ }
        END { if (n) printf "%.2f\n", max; else print "none" }'
}

# sample_cpu PID: "epoch_seconds cpu_ticks" every 0.2 s on stdout until killed; ticks 0 without a PID.
sample_cpu() {
    while :; do
        if [ -z "$1" ]; then
            echo "$EPOCHREALTIME 0"
        else
            echo "$EPOCHREALTIME $(cpu_ticks "$1" 2>/dev/null || echo -)"
        fi
        sleep 0.2
    done
}

# window_stats DIR: "tps latency_avg_ms p99_ms transactions cpu_us_per_txn full" over the run's last DURATION
# seconds, from pgbench's transaction logs (DIR/txn.*: client, transaction, latency us, script, end epoch s, us) and
# the CPU samples (DIR/cpu). The window starts at the first sample at least DURATION s before the last transaction
# and ends with the sample taken after pgbench exited. full is 0 when a pgbench thread ended its first transaction
# only after the window began: connecting took longer than RAMP. Prints nothing without transactions.
window_stats() {
    local dir=$1 first last a_t a_ticks b_ticks
    # first: when the slowest pgbench thread (one log each) ended its first transaction, i.e. had connected.
    read -r first last < <(awk '$3 ~ /^[0-9]+$/ { t = $5 + $6 / 1e6; if (t > e) e = t
                                                 if (!(FILENAME in f) || t < f[FILENAME]) f[FILENAME] = t }
        END { for (n in f) if (f[n] > m) m = f[n]; if (e) printf "%.6f %.6f\n", m, e; else print "- -" }' \
        "$dir"/txn.*)
    [ "$last" != - ] || return 0
    read -r a_t a_ticks < <(awk -v ws="$last" -v d="$DURATION" '$1 >= ws - d { print; exit }' "$dir/cpu")
    [ -n "${a_t:-}" ] || return 0
    b_ticks=$(tail -n 1 "$dir/cpu" | awk '{ print $2 }')
    awk -v a="$a_t" '$3 ~ /^[0-9]+$/ { t = $5 + $6 / 1e6; if (t >= a) print $3 }' "$dir"/txn.* | sort -n | awk \
        -v span="$(awk -v a="$a_t" -v e="$last" 'BEGIN { print e - a }')" -v t0="$a_ticks" -v t1="$b_ticks" \
        -v hz="$CLK_TCK" -v full="$(awk -v f="$first" -v a="$a_t" 'BEGIN { print (f <= a) }')" '
        { v[NR] = $1; sum += $1 }
        END {
            if (NR == 0 || span <= 0) exit
            i = int(NR * 0.99); if (i < NR * 0.99) i++
            cpu = (t0 == "-" || t1 == "-") ? "-" : sprintf("%.1f", (t1 - t0) * 1e6 / hz / NR)
            printf "%.1f %.3f %.3f %d %s %d\n", NR / span, sum / NR / 1000, v[i] / 1000, NR, cpu, full
        }'
}

# run_case ROUND MODE CLIENTS TARGET: one pgbench run of RAMP + DURATION seconds; appends a line to $OUT/raw.txt:
# mode clients target round status tps latency_ms p99_ms cpu_us_per_txn rss_mb gc_max_ms
run_case() {
    local round=$1 mode=$2 clients=$3 target=$4 port pid= args=() jobs=$JOBS ramp=${RAMP:-$((2 + $3 / 50))}
    case $target in
        direct) port=$PRIMARY_PORT ;;
        pgbouncer) port=$PGBOUNCER_PORT pid=$PGBOUNCER_PID ;;
        pgsvc) port=$PGSVC_PORT pid=$PGSVC_PID ;;
    esac
    case $mode in
        simple) args=(-S -M simple) ;;
        extended) args=(-S -M extended) ;;
        prepared) args=(-S -M prepared) ;;
        tpcb) args=(-M simple) ;;
    esac
    [ "$jobs" -le "$clients" ] || jobs=$clients
    local id=$mode-c$clients-$target-r$round
    local dir=$WORK/runs/$id
    mkdir -p "$dir"
    psql_super "$PRIMARY_PORT" "VACUUM pgbench_branches, pgbench_tellers" pgbench
    psql_super "$PRIMARY_PORT" "TRUNCATE pgbench_history" pgbench
    psql_super "$PRIMARY_PORT" "CHECKPOINT"

    local gc_from=0
    [ "$target" != pgsvc ] || gc_from=$(wc -l < "$GC_LOG" 2>/dev/null || echo 0)
    log "round $round/$ROUNDS: $mode, $clients clients, $target"
    sample_cpu "$pid" > "$dir/cpu" &
    HELPER_PIDS+=("$!")
    # In the background: bash runs a trap only between commands, and wait is one it can interrupt.
    PGPASSWORD=$BENCH_PASSWORD "$PGBENCH" "${args[@]}" -n -c "$clients" -j "$jobs" -T $((ramp + DURATION)) \
        -l --log-prefix="$dir/txn" -h 127.0.0.1 -p "$port" -U "$BENCH_USER" pgbench \
        > "$dir/pgbench.out" 2> "$dir/pgbench.err" &
    BENCH_PID=$!
    local rc=0
    wait "$BENCH_PID" || rc=$?
    BENCH_PID=
    stop_helpers
    local rss=- gc=-
    if [ -n "$pid" ]; then
        echo "$EPOCHREALTIME $(cpu_ticks "$pid" 2>/dev/null || echo -)" >> "$dir/cpu"
        rss=$(rss_kb "$pid" 2>/dev/null | awk '{ printf "%.1f", $1 / 1024 }') || rss=-
    else
        echo "$EPOCHREALTIME 0" >> "$dir/cpu"
    fi
    [ "$target" != pgsvc ] || gc=$(gc_max_ms "$gc_from")

    local tps=- lat=- p99=- txns=0 cpu=- full=1 status=ok
    read -r tps lat p99 txns cpu full < <(window_stats "$dir") || true
    [ -n "$pid" ] || cpu=-
    if [ "$rc" -ne 0 ] || grep -q 'aborted' "$dir/pgbench.err" || [ "${txns:-0}" -eq 0 ]; then
        status=failed tps=- lat=- p99=- cpu=-
        local why
        why=$(grep -m 1 -E 'ERROR|FATAL|error|aborted' "$dir/pgbench.err" | sed -E 's/^pgbench: error: //' \
            | cut -c 1-160) || true
        echo "$mode $clients $target round $round: ${why:-no transaction (pgbench exited $rc)}" >> "$OUT/failures.txt"
        log "failed: ${why:-no transaction (pgbench exited $rc)}"
    elif [ "$full" = 0 ]; then
        echo "$mode $clients $target round $round: connecting took longer than RAMP=$ramp s; its tail is in the" \
            "measured window (raise RAMP)" >> "$OUT/notes.txt"
    fi
    echo "$mode $clients $target $round $status $tps $lat $p99 $cpu $rss $gc" >> "$OUT/raw.txt"
    rm -f "$dir"/txn.*
    mkdir -p "$OUT/runs/$id"
    cp "$dir"/pgbench.* "$dir"/cpu "$OUT/runs/$id/"
}

started=$(date -u '+%Y-%m-%d %H:%M UTC')
for round in $(seq "$ROUNDS"); do
    for mode in $MODES; do
        for clients in $CLIENTS; do
            for target in $TARGETS; do
                run_case "$round" "$mode" "$clients" "$target"
            done
        done
    done
done

# table RAW: the markdown table, one row per mode, client count and target, means over the rounds that succeeded.
table() {
    awk -v rounds="$ROUNDS" '
        function fmt(x, d) { return x == "" ? "-" : sprintf("%." d "f", x) }
        function mean(sum, n) { return n ? sum / n : "" }
        {
            k = $1 SUBSEP $2 SUBSEP $3
            if (!(k in runs)) order[++n] = k
            runs[k]++
            if ($5 != "ok") next
            ok[k]++; tps[k] += $6; lat[k] += $7
            if ($8 != "-") { p99[k] += $8; p99n[k]++ }
            if ($9 != "-") { cpu[k] += $9; cpun[k]++ }
            if ($10 != "-" && $10 + 0 > rss[k]) rss[k] = $10 + 0
            if ($11 == "none") gcnone[k] = 1
            else if ($11 != "-" && (!gcn[k] || $11 + 0 > gc[k])) { gc[k] = $11 + 0; gcn[k] = 1 }
        }
        END {
            print "| mode | clients | target | tps | latency avg ms | latency p99 ms | pooler CPU µs/txn " \
                "| pooler RSS MB | pgsvc GC max pause ms | tps pgsvc/PgBouncer | tps pgsvc/direct " \
                "| CPU pgsvc/PgBouncer |"
            print "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
            for (i = 1; i <= n; i++) {
                k = order[i]; split(k, f, SUBSEP)
                row = "| " f[1] " | " f[2] " | " f[3] " | "
                if (!ok[k]) {
                    print row "failed | - | - | - | - | - | - | - | - |"
                    continue
                }
                t = tps[k] / ok[k]
                note = ok[k] < runs[k] ? " (" runs[k] - ok[k] "/" runs[k] " failed)" : ""
                row = row fmt(t, 0) note " | " fmt(lat[k] / ok[k], 3) " | " fmt(mean(p99[k], p99n[k]), 3) " | " \
                    fmt(mean(cpu[k], cpun[k]), 1) " | " (f[3] == "direct" ? "-" : fmt(rss[k], 1)) " | " \
                    (gcn[k] ? fmt(gc[k], 2) : gcnone[k] ? "none" : "-") " | "
                if (f[3] == "pgsvc") {
                    b = f[1] SUBSEP f[2] SUBSEP "pgbouncer"; d = f[1] SUBSEP f[2] SUBSEP "direct"
                    row = row (ok[b] ? fmt(t / (tps[b] / ok[b]), 3) : "n/a") " | " \
                        (ok[d] ? fmt(t / (tps[d] / ok[d]), 3) : "n/a") " | " \
                        (cpun[b] && cpun[k] && cpu[b] > 0 ? \
                            fmt(mean(cpu[k], cpun[k]) / mean(cpu[b], cpun[b]), 2) : "n/a") " |"
                } else {
                    row = row "- | - | - |"
                }
                print row
            }
        }' "$1"
}

# Not in a pipeline or $(...): the pids the functions record must reach the EXIT trap.
rm -f "$WORK/idle.md"
if [ "$IDLE" -gt 0 ] && [ -n "${TARGETS//direct/}" ]; then
    # Fresh poolers: what the pgbench runs left in their heaps and allocators would hide the growth.
    stop_poolers
    start_poolers
    idle_header > "$WORK/idle.md"
    for target in $TARGETS; do
        case $target in
            pgbouncer) idle_measure pgbouncer "$PGBOUNCER_PORT" "$PGBOUNCER_PID" "$IDLE" >> "$WORK/idle.md" ;;
            pgsvc) idle_measure pgsvc "$PGSVC_PORT" "$PGSVC_PID" "$IDLE" >> "$WORK/idle.md" ;;
        esac
    done
fi

{
    echo "## pgbench: direct, PgBouncer, pgsvc ($started)"
    echo
    [ -z "${NOTE:-}" ] || { echo "$NOTE"; echo; }
    echo "pgbench $("$PGBENCH" --version | awk '{ print $3 }'), scale $SCALE, $DURATION s per run, -j $JOBS," \
        "$ROUNDS round(s) with the targets alternating in each (means over the rounds shown); modes: simple," \
        "extended and prepared are \`-S -M ...\`, tpcb is pgbench's default script. Poolers: pool_mode=transaction," \
        "default_pool_size=$POOL_SIZE, max_client_conn=$MAX_CLIENT_CONN, auth_type=$POOL_AUTH_TYPE; PostgreSQL" \
        "max_connections=$MAX_CONNECTIONS. Each run: \`pgbench -n -T RAMP+DURATION -l\`; tps, latencies and CPU cover" \
        "its last $DURATION s, after the clients connected (RAMP ${RAMP:-= 2 + clients / 50} s); CPU and RSS are" \
        "the pooler process's (/proc/PID/stat utime+stime, VmRSS after the run)." \
        "pgsvc: \`java ${PGSVC_JAVA_OPTS%% -Xlog:*}\`."
    echo
    echo "$MACHINE"
    echo "- load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
    table "$OUT/raw.txt"
    if [ -f "$OUT/notes.txt" ]; then
        echo
        echo "Notes:"
        echo
        sed 's/^/- /' "$OUT/notes.txt"
    fi
    if [ -f "$OUT/failures.txt" ]; then
        echo
        echo "Failed runs:"
        echo
        sed 's/^/- /' "$OUT/failures.txt"
    fi
    if [ -f "$WORK/idle.md" ]; then
        echo
        echo "### Idle clients ($IDLE per pooler, fresh poolers, md5 logins, then nothing)"
        echo
        cat "$WORK/idle.md"
    fi
} > "$OUT/report.md"
{ cat "$OUT/report.md"; echo; } >> "$REPO/perf/out/results.md"
cat "$OUT/report.md"
log "report in $OUT/report.md, appended to perf/out/results.md"
if [ "${PUBLISH:-0}" = 1 ]; then
    grep -q '^<!-- latest run: end -->$' "$REPO/perf/RESULTS.md" || die "perf/RESULTS.md has no latest-run markers"
    awk -v report="$OUT/report.md" '
        /^<!-- latest run: begin -->$/ { print; while ((getline line < report) > 0) print line; print ""; skip = 1; next }
        /^<!-- latest run: end -->$/ { skip = 0 }
        !skip' "$REPO/perf/RESULTS.md" > "$OUT/RESULTS.md"
    cp "$OUT/RESULTS.md" "$REPO/perf/RESULTS.md"
    log "perf/RESULTS.md updated"
fi
