#!/usr/bin/env bash
# perf/routing.sh: what routing costs. Starts the sandbox primary and streaming replica (perf/lib.sh) and pgsvc with
# two replica services (Pigsty's 5434 pooled, and the same role as a direct byte proxy like 5438), health-checked
# by SQL, and runs pgbench -S against the replica directly and through each service, alternating, then prints tps
# and the ratio to the direct replica.
#
#   perf/routing.sh
#   CLIENTS="10 100" DURATION=15 ROUNDS=2 perf/routing.sh
#
# Env: CLIENTS ("10 100"), DURATION (10), ROUNDS (2), SCALE (10), PGSVC_JAVA_OPTS. Output in perf/out/routing-*/.
set -euo pipefail

CLIENTS=${CLIENTS:-"10 100"}
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-2}
SCALE=${SCALE:-10}
POOL_AUTH_TYPE=md5
POOL_SIZE=20
MAX_CLIENT_CONN=11000
NAME=routing
# shellcheck source=perf/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$REPO"
PGSVC_JAVA_OPTS=${PGSVC_JAVA_OPTS:-$PGSVC_BENCH_JAVA_OPTS}
OUT=$REPO/perf/out/routing-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"

sandbox_on_exit() {
    cp "$WORK"/pgsvc/pgsvc.log "$OUT"/ 2>/dev/null || true
}

sandbox_init pooler
start_cluster "$SCALE"

# pgsvc with the router's sections after the usual [pgbouncer] one.
POOLED_PORT=$(free_port)
DIRECT_PORT=$(free_port)
PGSVC_SECTIONS="
[hosts]
m1 = host=127.0.0.1 port=$PRIMARY_PORT
m2 = host=127.0.0.1 port=$REPLICA_PORT

[services]
replica = port=$POOLED_PORT role=replica dest=pooler
replica_direct = port=$DIRECT_PORT role=replica dest=postgres

[router]
check_user = postgres
check_interval = 1"
start_pgsvc
wait_until 60 "the pooled replica service answers" psql_bench "$POOLED_PORT"
wait_until 60 "the direct replica service answers" psql_bench "$DIRECT_PORT"
log "pgsvc (pid $PGSVC_PID): replica pooled on $POOLED_PORT, replica direct on $DIRECT_PORT"

targets="replica pooled direct"
port_of() { case $1 in replica) echo "$REPLICA_PORT" ;; pooled) echo "$POOLED_PORT" ;; direct) echo "$DIRECT_PORT" ;; esac; }
: > "$OUT/raw.txt"
# Warm-up, not reported: the JIT's first seconds.
PGPASSWORD=$BENCH_PASSWORD "$PGBENCH" -n -S -c 10 -j 2 -T 5 -h 127.0.0.1 -p "$POOLED_PORT" -U "$BENCH_USER" pgbench \
    > /dev/null 2>&1 || true
for round in $(seq "$ROUNDS"); do
    for clients in $CLIENTS; do
        for target in $targets; do
            port=$(port_of "$target")
            if PGPASSWORD=$BENCH_PASSWORD "$PGBENCH" -n -S -c "$clients" -j 2 -T "$DURATION" -h 127.0.0.1 \
                -p "$port" -U "$BENCH_USER" pgbench > "$OUT/pgbench-$round-$clients-$target.out" 2>&1; then
                tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$OUT/pgbench-$round-$clients-$target.out")
            else
                tps=failed
            fi
            log "round $round, $clients clients, $target: $tps tps"
            echo "$clients $target $tps" >> "$OUT/raw.txt"
        done
    done
done

{
    echo "## Routing cost (pgbench -S -M simple, $(date -u '+%Y-%m-%d %H:%M UTC'))"
    echo
    echo "Replica reached directly, through pgsvc's pooled replica service (transaction pooling, pool $POOL_SIZE)" \
        "and through its direct replica service (a byte proxy to the member the router chose); $ROUNDS round(s)" \
        "of $DURATION s, targets alternating; means shown."
    echo
    echo "| clients | target | tps | tps / direct replica |"
    echo "|---:|---|---:|---:|"
    awk '$3 != "failed" { s[$1 " " $2] += $3; n[$1 " " $2]++ } $3 == "failed" { f[$1 " " $2] = 1 }
        END {
            split("replica pooled direct", order, " ")
            for (k in n) { split(k, p, " "); c[p[1]] = 1 }
            for (cl in c) for (i = 1; i <= 3; i++) {
                key = cl " " order[i]; base = cl " replica"
                if (key in f || !(key in n)) { printf "| %s | %s | failed | - |\n", cl, order[i]; continue }
                m = s[key] / n[key]; b = (base in n) ? s[base] / n[base] : 0
                printf "| %s | %s | %.0f | %s |\n", cl, order[i], m, b ? sprintf("%.3f", m / b) : "-"
            }
        }' "$OUT/raw.txt" | sort -t'|' -k2,2n -k3,3
} | tee "$OUT/report.md"
