#!/usr/bin/env bash
# perf/profile.sh: where pgsvc spends its CPU under pgbench. Starts the sandbox primary (perf/lib.sh) and pgsvc,
# runs pgbench through it, profiles pgsvc with async-profiler (CPU time, every thread) while the load
# runs, and prints the hottest methods (top frames) and the hottest pgsvc frames anywhere in the stack.
#
#   perf/profile.sh                         # pgbench -S -M simple -c 100 for 20 s
#   MODE=extended CLIENTS=10 DURATION=30 perf/profile.sh
#
# Env: MODE (simple extended prepared tpcb; connect is -C -S, a login per transaction), CLIENTS (100),
# DURATION (20), SETTLE (5 s of load before the profile starts; connect wants 40 for the JIT to settle), SCALE (10),
# TOP (25), EVENT (ctimer; cpu uses perf_events and also sees kernel frames), INTERVAL (1ms),
# PGSVC_JAVA_OPTS (perf/lib.sh's bench options). The stacks stay in perf/out/profile-*/collapsed.txt.
set -euo pipefail

MODE=${MODE:-simple}
CLIENTS=${CLIENTS:-100}
DURATION=${DURATION:-20}
SETTLE=${SETTLE:-5}
SCALE=${SCALE:-10}
TOP=${TOP:-25}
EVENT=${EVENT:-ctimer}
INTERVAL=${INTERVAL:-1ms}
POOL_AUTH_TYPE=md5
POOL_SIZE=20
MAX_CLIENT_CONN=11000
NAME=profile
# shellcheck source=perf/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$REPO"
OUT=$REPO/perf/out/profile-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
# async-profiler (Maven Central, tools.profiler:async-profiler) samples every thread, in Java or in native code,
# by CPU time; JFR's sampler misses event-loop threads while they are in native calls. ctimer (a CPU-time timer per thread) needs no perf_events.
AP_JAR=$REPO/perf/out/tools/async-profiler-3.0.jar
if [ ! -f "$AP_JAR" ]; then
    mvn -B -q dependency:copy -Dartifact=tools.profiler:async-profiler:3.0 -DoutputDirectory="$REPO/perf/out/tools"
fi
case $(uname -m) in x86_64) AP_ARCH=linux-x64 ;; aarch64) AP_ARCH=linux-arm64 ;; *) die "no async-profiler for $(uname -m)" ;; esac
(cd "$REPO/perf/out/tools" && unzip -o -q "$AP_JAR" "$AP_ARCH/libasyncProfiler.so")
AP_LIB=$REPO/perf/out/tools/$AP_ARCH/libasyncProfiler.so
PGSVC_JAVA_OPTS="${PGSVC_JAVA_OPTS:-$PGSVC_BENCH_JAVA_OPTS} -XX:+UnlockDiagnosticVMOptions -XX:+DebugNonSafepoints"

sandbox_on_exit() {
    cp "$WORK"/pgsvc/pgsvc.log "$OUT"/ 2>/dev/null || true
}

mode_script "$MODE"

sandbox_init pooler
start_cluster "$SCALE" noreplica
start_pgsvc
log "pgbench ${SCRIPT[*]} -c $CLIENTS -j 2 -T $((DURATION + SETTLE)) through pgsvc, profiled for the last $DURATION s"
PGPASSWORD=$BENCH_PASSWORD "$PGBENCH" -n "${SCRIPT[@]}" -c "$CLIENTS" -j 2 -T "$((DURATION + SETTLE))" -h 127.0.0.1 \
    -p "$PGSVC_PORT" -U "$BENCH_USER" pgbench > "$OUT/pgbench.out" 2>&1 &
BENCH_PID=$!
# Profile the steady load only, not startup and the clients' logins. jcmd takes key=value as its own named
# arguments, so the agent options go in double quotes.
sleep "$SETTLE"
jcmd_pid "$PGSVC_PID" JVMTI.agent_load "$AP_LIB" "\"start,event=$EVENT,interval=$INTERVAL,file=$OUT/collapsed.txt,collapsed\"" \
    > /dev/null
wait "$BENCH_PID" || { cat "$OUT/pgbench.out" >&2; die "pgbench failed"; }
BENCH_PID=
grep -E '^(tps|latency average|number of failed)' "$OUT/pgbench.out" >&2 || true
jcmd_pid "$PGSVC_PID" JVMTI.agent_load "$AP_LIB" "\"stop,file=$OUT/collapsed.txt,collapsed\"" > /dev/null
stop_poolers

# collapsed.txt: one line per distinct stack, "root;...;leaf COUNT".
awk -v top="$TOP" -v interval="$INTERVAL" '
    {
        n = $NF; $NF = ""; sub(/ $/, ""); samples += n
        k = split($0, f, ";")
        self[f[k]] += n
        delete seen
        for (i = 1; i <= k; i++) if (f[i] ~ /^pgsvc[.\/]/ && !(f[i] in seen)) { total[f[i]] += n; seen[f[i]] = 1 }
    }
    END {
        printf "%d samples (" interval " of CPU each)\n\nself (top frame):\n", samples
        cmd = "sort -rn | head -n " top
        for (x in self) printf "%6.2f%%  %s\n", 100 * self[x] / samples, x | cmd; close(cmd)
        printf "\npgsvc frames, inclusive:\n"
        for (x in total) printf "%6.2f%%  %s\n", 100 * total[x] / samples, x | cmd; close(cmd)
    }' "$OUT/collapsed.txt" | tee "$OUT/profile.txt"
log "stacks: $OUT/collapsed.txt"
