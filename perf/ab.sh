#!/usr/bin/env bash
# perf/ab.sh: CPU per transaction of two pgsvc builds and PgBouncer side by side, for judging a change that is
# smaller than bench.sh's run-to-run noise. One sandbox primary; PgBouncer, pgsvc from BASE_JAR ("base") and pgsvc
# from the working tree's jar ("new"), all with bench.sh's pool settings; then ROUNDS rounds of pgbench through each in
# turn. Each pgsvc's CPU is also split by thread: the event loop ("loop") and the rest (JIT compiler, collector).
#
#   git stash; mvn -B -q package -DskipTests; cp target/pgsvc-pooler.jar /tmp/base.jar; git stash pop
#   mvn -B -q package -DskipTests; BASE_JAR=/tmp/base.jar perf/ab.sh
#   BASE_JAR=/tmp/base.jar CLIENTS=1000 MODE=extended perf/ab.sh
#
# Env: BASE_JAR (required), CLIENTS (10), MODE (simple extended prepared tpcb, connect = -C -S; simple), TARGETS
# ("pgbouncer base new"; "base new" for prepared, which PgBouncer 1.18 fails in transaction pooling),
# DURATION (10 s per run), ROUNDS (6), WARMUP (60 s through each pooler first, in turns of 10 s, at 10 clients and
# at CLIENTS in turn), PGSVC_JAVA_OPTS (the new jar's JVM options), BASE_JAVA_OPTS (the base jar's; PGSVC_JAVA_OPTS
# by default). BASE_JAR may be the working tree's jar, to compare JVM options alone.
# CPU is utime+stime from /proc over the whole run, logins included; the lines marked "all" are over every round.
set -euo pipefail

CLIENTS=${CLIENTS:-10}
MODE=${MODE:-simple}
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-6}
WARMUP=${WARMUP:-60}
POOL_AUTH_TYPE=md5
POOL_SIZE=20
MAX_CLIENT_CONN=11000
NAME=ab
# shellcheck source=perf/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$REPO"
[ -n "${BASE_JAR:-}" ] && [ -f "$BASE_JAR" ] || die "BASE_JAR: the jar to compare with (see the header)"
PGSVC_JAVA_OPTS=${PGSVC_JAVA_OPTS:-$PGSVC_BENCH_JAVA_OPTS}
BASE_JAVA_OPTS=${BASE_JAVA_OPTS:-$PGSVC_JAVA_OPTS}
mode_script "$MODE"
TARGETS=${TARGETS:-$([ "$MODE" = prepared ] && echo "base new" || echo "pgbouncer base new")}
command -v pgbouncer > /dev/null || [ -x /usr/sbin/pgbouncer ] || die "pgbouncer is not installed"

sandbox_init pooler
start_cluster 10 noreplica
start_pgbouncer
start_pgsvc
BASE_PORT=$(free_port)
mkdir -p "$WORK/base"
sed "s/^listen_port *=.*/listen_port = $BASE_PORT/" "$WORK/pgsvc/pooler.ini" > "$WORK/base/pooler.ini"
# shellcheck disable=SC2086 # BASE_JAVA_OPTS is a list of options
(cd "$WORK/base" && exec java $BASE_JAVA_OPTS -jar "$BASE_JAR" "$WORK/base/pooler.ini") \
    >> "$WORK/base/pgsvc.log" 2>&1 < /dev/null &
BASE_PID=$!
HELPER_PIDS+=("$BASE_PID")
PORT=$BASE_PORT RUNNER=$BASE_PID await_pooler base "$WORK/base/pgsvc.log" || die "the base jar did not start; see $WORK/base/pgsvc.log"

# ticks PID [loop]: "utime stime" of the process, or of its event-loop threads only.
ticks() {
    local u=0 s=0 t f stat
    for t in /proc/"$1"/task/*; do
        if [ "${2:-}" = loop ]; then
            case $(< "$t/comm") in pgsvc-io*) ;; *) continue ;; esac
        fi
        stat=$(< "$t/stat") || continue
        read -ra f <<< "${stat##*) }"
        u=$((u + f[11])) s=$((s + f[12]))
    done
    echo "$u $s"
}

port_of() { case $1 in pgbouncer) echo "$PGBOUNCER_PORT" ;; base) echo "$BASE_PORT" ;; new) echo "$PGSVC_PORT" ;; esac; }
pid_of() { case $1 in pgbouncer) echo "$PGBOUNCER_PID" ;; base) echo "$BASE_PID" ;; new) echo "$PGSVC_PID" ;; esac; }
bench() { # TARGET CLIENTS SECONDS
    PGPASSWORD=$BENCH_PASSWORD "$PGBENCH" "${SCRIPT[@]}" -n -c "$2" -j 2 -T "$3" -h 127.0.0.1 -p "$(port_of "$1")" \
        -U "$BENCH_USER" pgbench 2>&1
}

# The warm-up takes turns as the rounds do, 10 s through each target at a time: a JVM that sits idle while the
# others run, and then gets load again, takes branches of its event loop that steady load never does, and C2
# recompiles the loop (for a few seconds it runs slower code, and the compiler thread takes CPU). Warmed up in one
# stretch, the base jar met its first such idle spell in round 1, which then read 1 to 5 µs per transaction higher.
log "warm-up: $WARMUP s through each target, 10 s at a time"
for turn in $(seq $(((WARMUP + 9) / 10))); do
    for target in $TARGETS; do
        out=$(bench "$target" "$([ $((turn % 2)) -eq 1 ] && echo 10 || echo "$CLIENTS")" 10) \
            || die "warm-up through $target failed: $(grep -m 1 -i error <<< "$out")"
    done
done

CLK_TCK=$(getconf CLK_TCK)
declare -A TX U S LU LS
printf '%-6s %-10s %9s %10s %10s %10s %12s\n' round target tps "user µs" "sys µs" "total µs" "loop user µs"
for round in $(seq "$ROUNDS") all; do
    for target in $TARGETS; do
        if [ "$round" != all ]; then
            pid=$(pid_of "$target")
            read -r u0 s0 < <(ticks "$pid")
            read -r lu0 ls0 < <(ticks "$pid" loop)
            out=$(bench "$target" "$CLIENTS" "$DURATION")
            read -r u1 s1 < <(ticks "$pid")
            read -r lu1 ls1 < <(ticks "$pid" loop)
            tx=$(awk '/number of transactions actually processed/ { split($NF, a, "/"); print a[1] }' <<< "$out")
            [ "${tx:-0}" -gt 0 ] || die "no transaction through $target: $(grep -m 1 -i error <<< "$out")"
            tps=$(awk '/^tps/ { printf "%.0f", $3 }' <<< "$out")
            TX[$target]=$((${TX[$target]:-0} + tx)) U[$target]=$((${U[$target]:-0} + u1 - u0))
            S[$target]=$((${S[$target]:-0} + s1 - s0)) LU[$target]=$((${LU[$target]:-0} + lu1 - lu0))
            set -- "$tx" $((u1 - u0)) $((s1 - s0)) $((lu1 - lu0))
        else
            tps=-
            set -- "${TX[$target]}" "${U[$target]}" "${S[$target]}" "${LU[$target]}"
        fi
        awk -v r="$round" -v t="$target" -v tps="$tps" -v tx="$1" -v u="$2" -v s="$3" -v lu="$4" -v hz="$CLK_TCK" \
            -v pgb="$([ "$target" = pgbouncer ] && echo 1 || echo 0)" 'BEGIN {
                k = 1e6 / hz / tx
                printf "%-6s %-10s %9s %10.2f %10.2f %10.2f %12s\n", r, t, tps, u * k, s * k, (u + s) * k,
                    pgb ? "-" : sprintf("%.2f", lu * k)
            }'
    done
done
