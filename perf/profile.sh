#!/usr/bin/env bash
# perf/profile.sh: where pgsvc spends its CPU under pgbench. Starts the sandbox primary (perf/lib.sh), pgsvc with
# Java Flight Recorder on (sampling every 10 ms per thread), runs pgbench through it, and prints the hottest
# methods (top frames) and the hottest pgsvc frames anywhere in the stack, from the recording's execution samples.
#
#   perf/profile.sh                         # pgbench -S -M simple -c 100 for 20 s
#   MODE=extended CLIENTS=10 DURATION=30 perf/profile.sh
#
# Env: MODE (simple extended prepared tpcb), CLIENTS (100), DURATION (20), SCALE (10), TOP (25),
# PGSVC_JAVA_OPTS (perf/lib.sh's bench options). The recording stays in perf/out/profile-*/pgsvc.jfr for JMC.
set -euo pipefail

MODE=${MODE:-simple}
CLIENTS=${CLIENTS:-100}
DURATION=${DURATION:-20}
SCALE=${SCALE:-10}
TOP=${TOP:-25}
POOL_AUTH_TYPE=md5
POOL_SIZE=20
MAX_CLIENT_CONN=11000
NAME=profile
# shellcheck source=perf/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$REPO"
OUT=$REPO/perf/out/profile-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
JFR_SETTINGS=$OUT/profile.jfc
# The built-in "profile" settings, with the Java sampler at 10 ms: enough samples in 20 s on 2 cores.
sed 's|<setting name="period" control="method-sampling-java-interval">[^<]*<|<setting name="period" control="method-sampling-java-interval">10 ms<|' \
    "$(dirname "$(readlink -f "$(command -v java)")")/../lib/jfr/profile.jfc" > "$JFR_SETTINGS"
PGSVC_JAVA_OPTS="${PGSVC_JAVA_OPTS:-$PGSVC_BENCH_JAVA_OPTS} -XX:StartFlightRecording=filename=$OUT/pgsvc.jfr,settings=$JFR_SETTINGS"

sandbox_on_exit() {
    cp "$WORK"/pgsvc/pgsvc.log "$OUT"/ 2>/dev/null || true
}

case $MODE in
    simple | extended | prepared) SCRIPT=(-S -M "$MODE") ;;
    tpcb) SCRIPT=() ;;
    *) die "unknown MODE '$MODE' (simple extended prepared tpcb)" ;;
esac

sandbox_init pooler
start_cluster "$SCALE" noreplica
start_pgsvc
log "pgbench ${SCRIPT[*]} -c $CLIENTS -j 2 -T $DURATION through pgsvc"
PGPASSWORD=$BENCH_PASSWORD "$PGBENCH" -n "${SCRIPT[@]}" -c "$CLIENTS" -j 2 -T "$DURATION" -h 127.0.0.1 \
    -p "$PGSVC_PORT" -U "$BENCH_USER" pgbench > "$OUT/pgbench.out" 2>&1 || { cat "$OUT/pgbench.out" >&2; die "pgbench failed"; }
grep -E '^(tps|latency average|number of failed)' "$OUT/pgbench.out" >&2 || true
jcmd_pid "$PGSVC_PID" JFR.dump filename="$OUT/pgsvc.jfr" > /dev/null
stop_poolers

JFR=$(dirname "$(readlink -f "$(command -v java)")")/jfr
"$JFR" print --events jdk.ExecutionSample --stack-depth 64 "$OUT/pgsvc.jfr" > "$OUT/samples.txt"
# Each sample: "jdk.ExecutionSample {", then "stackTrace = [", one frame per line, "]".
awk -v top="$TOP" -v out="$OUT" '
    /stackTrace = \[/ { inStack = 1; depth = 0; delete seen; samples++; next }
    inStack && /^[[:space:]]*\]/ { inStack = 0; next }
    inStack {
        frame = $0
        sub(/^[[:space:]]+/, "", frame); sub(/[[:space:]]+line:.*/, "", frame)
        if (frame == "..." || frame == "") next
        if (depth == 0) self[frame]++
        if (frame ~ /^pgsvc\./ && !(frame in seen)) { total[frame]++; seen[frame] = 1 }
        depth++
    }
    END {
        printf "%d samples\n\nself (top frame):\n", samples
        n = 0; for (f in self) lines[++n] = sprintf("%6.2f%%  %s", 100 * self[f] / samples, f)
        cmd = "sort -rn | head -n " top; for (i = 1; i <= n; i++) print lines[i] | cmd; close(cmd)
        printf "\npgsvc frames, inclusive:\n"
        n = 0; delete lines; for (f in total) lines[++n] = sprintf("%6.2f%%  %s", 100 * total[f] / samples, f)
        for (i = 1; i <= n; i++) print lines[i] | cmd; close(cmd)
    }' "$OUT/samples.txt" | tee "$OUT/profile.txt"
log "recording: $OUT/pgsvc.jfr"
