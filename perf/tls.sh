#!/usr/bin/env bash
# perf/tls.sh: what TLS between clients and the pooler costs, pgsvc (the JDK's TLS engine) against PgBouncer
# (OpenSSL). Starts the sandbox primary (perf/lib.sh), a test CA and server certificate (openssl), both poolers with
# client_tls_sslmode = prefer and the same certificate, and runs pgbench -S with sslmode=require and sslmode=disable
# against each, alternating, reporting tps and the pooler's CPU per transaction.
#
#   perf/tls.sh
#   CLIENTS=50 DURATION=15 ROUNDS=2 perf/tls.sh
set -euo pipefail

CLIENTS=${CLIENTS:-50}
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-1}
SCALE=${SCALE:-10}
POOL_AUTH_TYPE=md5
POOL_SIZE=20
MAX_CLIENT_CONN=11000
NAME=tls
# shellcheck source=perf/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$REPO"
PGSVC_JAVA_OPTS=${PGSVC_JAVA_OPTS:-$PGSVC_BENCH_JAVA_OPTS}
OUT=$REPO/perf/out/tls-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
command -v openssl >/dev/null || die "no openssl; apt-get install -y openssl"
CLK_TCK=$(getconf CLK_TCK)

sandbox_init pooler
start_cluster "$SCALE" noreplica
tls=$WORK/tls
mkdir -p "$tls"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=pgsvc perf CA" -keyout "$tls/ca.key" \
    -out "$tls/ca.crt" 2> /dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$tls/server.key" -out "$tls/server.csr" \
    2> /dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > "$tls/ext"
openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" -CAcreateserial -days 2 \
    -extfile "$tls/ext" -out "$tls/server.crt" 2> /dev/null
chmod 600 "$tls/server.key"
[ ${#RUN_AS[@]} -eq 0 ] || chown -R postgres: "$tls"
POOLER_EXTRA="client_tls_sslmode = prefer
client_tls_key_file = $tls/server.key
client_tls_cert_file = $tls/server.crt
server_tls_sslmode = disable"
start_pgbouncer
start_pgsvc

run() { # TARGET PORT PID SSLMODE
    local out=$OUT/$1-$4.out t0 t1
    t0=$(cpu_ticks "$3")
    if ! PGSSLMODE=$4 PGPASSWORD=$BENCH_PASSWORD "$PGBENCH" -n -S -c "$CLIENTS" -j 2 -T "$DURATION" -h 127.0.0.1 \
        -p "$2" -U "$BENCH_USER" pgbench > "$out" 2>&1; then
        tail -n 5 "$out" >&2
        echo "$1 $4 failed -" >> "$OUT/raw.txt"
        return
    fi
    t1=$(cpu_ticks "$3")
    awk -v t="$1" -v m="$4" -v ticks="$((t1 - t0))" -v hz="$CLK_TCK" '
        /^number of transactions actually processed/ { n = $NF + 0 } /^tps = / { tps = $3 }
        END { printf "%s %s %.0f %.1f\n", t, m, tps, n ? ticks * 1e6 / hz / n : 0 }' "$out" >> "$OUT/raw.txt"
}
: > "$OUT/raw.txt"
for port in "$PGBOUNCER_PORT" "$PGSVC_PORT"; do
    PGPASSWORD=$BENCH_PASSWORD "$PGBENCH" -n -S -c 10 -j 2 -T 5 -h 127.0.0.1 -p "$port" -U "$BENCH_USER" pgbench \
        > /dev/null 2>&1 || true
done
for round in $(seq "$ROUNDS"); do
    for mode in require disable; do
        run pgbouncer "$PGBOUNCER_PORT" "$PGBOUNCER_PID" "$mode"
        run pgsvc "$PGSVC_PORT" "$PGSVC_PID" "$mode"
        log "round $round, sslmode=$mode done"
    done
done
{
    echo "## TLS cost (pgbench -S -M simple -c $CLIENTS, $(date -u '+%Y-%m-%d %H:%M UTC'))"
    echo
    echo "Clients to the pooler with sslmode=require (RSA 2048 server certificate) or disable; pooler to PostgreSQL"
    echo "in plaintext. pgsvc: the JDK's TLS engine (\`java $PGSVC_JAVA_OPTS\`); PgBouncer: OpenSSL."
    echo "$ROUNDS round(s) of $DURATION s; means shown."
    echo
    echo "| pooler | sslmode | tps | pooler CPU µs/txn |"
    echo "|---|---|---:|---:|"
    awk '$3 != "failed" { k = $1 " " $2; t[k] += $3; c[k] += $4; n[k]++ }
        END { for (k in n) { split(k, p, " "); printf "| %s | %s | %.0f | %.1f |\n", p[1], p[2], t[k] / n[k], c[k] / n[k] } }' \
        "$OUT/raw.txt" | sort
} | tee "$OUT/report.md"
