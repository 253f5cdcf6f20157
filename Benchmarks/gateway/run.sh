#!/usr/bin/env bash
# Gateway throughput and added latency, in one run, on this machine's two cores:
#   direct    wrk -> upstream
#   nginx     wrk -> nginx (plain reverse proxy, no authorization) -> upstream
#   gatehouse wrk -> gatehouse serve (authorization on, warm tag cache, audit log on) -> upstream
#   then, side by side, the same call AK/SK-signed (SDK-HMAC-SHA256, signed by the official
#   SDK's signer beforehand, 2,000 distinct requests within the 15-minute window) against the
#   token path, both replayed by one wrk Lua script so the client does the same work
# The proxy under test is pinned to core 1 (`taskset -c 1`); wrk and the upstream (a fixed
# nginx answer, also for the tag API) share core 0, so nginx and Gatehouse get the same CPU.
# Then each is driven at half of Gatehouse's saturation rate to compare p99 latency.
#
# Needs wrk and nginx (Debian: apt-get install wrk nginx-light) and the SDK core for python3
# (pip install huaweicloudsdkcore; make test-deps installs it). DURATION= (default 10s),
# CONNECTIONS= (default 64) tune the saturation runs; ROUNDS= (default 9) and ROUND= (default
# 4s) the alternating signed/token/nginx rounds; GATEHOUSE_BIN= names the binary.
set -euo pipefail
cd "$(dirname "$0")/../.."

DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-64}"
ROUNDS="${ROUNDS:-9}"
ROUND="${ROUND:-4s}"
. Benchmarks/common.sh
bench_needs "apt-get install wrk nginx-light" wrk nginx taskset python3
bench_binary
NGX=$(free_port); GH=$(free_port); ADMIN=$(free_port)
start_upstream

nginx_conf proxy "upstream up { server 127.0.0.1:$UP; keepalive 64; }
    server { listen 127.0.0.1:$NGX; location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection \"\"; } }"

taskset -c 1 nginx -c "$T/proxy.conf" & pids+=($!)

"$BIN" directory init --db "$T/directory.sqlite" --seed samples/directory.json >/dev/null
TOKEN=$("$BIN" directory issue-token --db "$T/directory.sqlite" --user dev_only --ttl 1d 2>/dev/null)
"$BIN" directory generate-key --out "$T/directory.key" >/dev/null
KEYS=$("$BIN" directory create-access-key --db "$T/directory.sqlite" --key-file "$T/directory.key" --user dev_only 2>/dev/null)
AK=$(echo "$KEYS" | sed -n 1p); SK=$(echo "$KEYS" | sed -n 2p)
GATEHOUSE_LISTEN_PORT=$GH GATEHOUSE_ADMIN_PORT=$ADMIN GATEHOUSE_THREADS=1 GATEHOUSE_UPSTREAM_URL="http://127.0.0.1:$UP" \
GATEHOUSE_DIRECTORY_PATH="$T/directory.sqlite" GATEHOUSE_AUDIT_PATH="$T/audit.log" GATEHOUSE_TAGS_CACHE_TTL_MS=600000 \
GATEHOUSE_DIRECTORY_KEY_FILE="$T/directory.key" \
    taskset -c 1 "$BIN" serve >"$T/serve.out" 2>"$T/serve.err" & pids+=($!)

for _ in $(seq 100); do grep -q "gateway listening" "$T/serve.out" 2>/dev/null && break; sleep 0.1; done
path="/v1/organizations/accounts/$ACCOUNT"
check() { curl -fsS -H "X-Auth-Token: $TOKEN" "$1$path" >/dev/null || { echo "no answer from $1" >&2; cat "$T/serve.err" >&2; exit 1; }; }
check "http://127.0.0.1:$UP"; check "http://127.0.0.1:$NGX"; check "http://127.0.0.1:$GH"

run() { # url, extra wrk args...
    local url=$1; shift
    taskset -c 0 wrk -H "X-Auth-Token: $TOKEN" --latency "$@" "$url$path"
}

echo "saturation ($CONNECTIONS connections, $DURATION each)"
declare -A RPS
for target in direct:$UP nginx:$NGX gatehouse:$GH; do
    name=${target%%:*}; port=${target#*:}
    run "http://127.0.0.1:$port" -t1 -c4 -d2s >/dev/null # warm up (connections, tag cache)
    RPS[$name]=$(run "http://127.0.0.1:$port" -t1 -c"$CONNECTIONS" -d"$DURATION" | rate)
    printf '  %-10s %8s req/s\n' "$name" "${RPS[$name]}"
done
ratio=$(awk -v g="${RPS[gatehouse]}" -v n="${RPS[nginx]}" 'BEGIN { printf "%.2f", g / n }')
echo "  gatehouse / nginx = $ratio (target >= 0.5)"

# Half of Gatehouse's saturation rate, paced by a per-connection delay (wrk has no fixed-rate
# mode): 16 connections, each waiting on average 16 s / target-rate between requests. The
# delay is drawn uniformly from 0 to twice that, so the connections do not fire in lockstep
# (which would measure a burst of 16 queued requests, not the latency a call sees).
half=$(( RPS[gatehouse] / 2 ))
delay=$(awk -v r="$half" 'BEGIN { printf "%.3f", 16 * 1000 / r }')
cat >"$T/pace.lua" <<LUA
function delay() return math.random() * 2 * $delay end
LUA
echo "latency at about $half req/s (16 connections, ${delay} ms between requests each)"
declare -A P99
for target in direct:$UP nginx:$NGX gatehouse:$GH; do
    name=${target%%:*}; port=${target#*:}
    out=$(run "http://127.0.0.1:$port" -t1 -c16 -d"$DURATION" -s "$T/pace.lua")
    P99[$name]=$(echo "$out" | p99)
    printf '  %-10s p99 %-10s (%s req/s)\n' "$name" "${P99[$name]}" "$(echo "$out" | rate)"
done
added=$(awk -v g="$(to_ms "${P99[gatehouse]}")" -v d="$(to_ms "${P99[direct]}")" 'BEGIN { printf "%.3f", g - d }')
echo "  p99 added by gatehouse over direct: ${added} ms (target <= 1 ms)"
lines=$(wc -l <"$T/audit.log")
echo "audit lines written: $lines"

# Signed against token, side by side: the same GET by the same user, replayed from a list of
# prepared requests (token: one request; signed: 2,000, each signed by the SDK's signer at a
# distinct X-Sdk-Date within the window), so wrk does the same work for both.
python3 - "$AK" "$SK" "127.0.0.1:$GH" "$path" "$TOKEN" "$T" <<'PY'
import datetime, sys
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer
ak, sk, host, path, token, folder = sys.argv[1:]
signer = Signer(BasicCredentials(ak, sk))
now = datetime.datetime.utcnow()
def lua(requests, name):
    with open(f"{folder}/{name}.lua", "w") as out:
        out.write("local requests = {}\n")
        for headers in requests:
            fields = ", ".join(f'["{k}"] = "{v}"' for k, v in headers.items())
            out.write(f'requests[#requests + 1] = wrk.format("GET", "{path}", {{{fields}}})\n')
        out.write("local i = 0\nrequest = function() i = i % #requests + 1; return requests[i] end\n")
signed = []
for n in range(2000):
    date = (now - datetime.timedelta(seconds=n % 120)).strftime("%Y%m%dT%H%M%SZ")
    request = SdkRequest(method="GET", schema="http", host=host, resource_path=path, query_params=[],
                         header_params={"X-Sdk-Date": date, "Host": host}, body="")
    headers = signer.sign(request).header_params
    signed.append({"Host": host, "X-Sdk-Date": date, "Authorization": headers["Authorization"]})
lua(signed, "signed")
lua([{"Host": host, "X-Auth-Token": token}], "token")
PY
curl -fsS -o /dev/null "http://127.0.0.1:$GH$path" -H "Host: 127.0.0.1:$GH" \
    -H "$(sed -n '2s/.*"X-Sdk-Date"\] = "\([^"]*\)".*/X-Sdk-Date: \1/p' "$T/signed.lua")" \
    -H "$(sed -n '2s/.*"Authorization"\] = "\([^"]*\)".*/Authorization: \1/p' "$T/signed.lua")" \
    || { echo "the signed request was refused" >&2; tail -1 "$T/audit.log" >&2; exit 1; }
replay() { # script name
    taskset -c 0 wrk -t1 -c"$CONNECTIONS" -d"$ROUND" -s "$T/$1.lua" "http://127.0.0.1:$GH"
}
gateway_pid=${pids[-1]}
ticks_per_second=$(getconf CLK_TCK)
# Rounds alternate token, signed and nginx (plain proxy), so the machine's drift falls on all
# three alike; each round gives throughput and, for the gateway, its own CPU per call (from
# /proc/<pid>/stat over the replay, divided by the calls answered), which drift moves less.
echo "signed against token and nginx, replayed by one Lua script, $ROUNDS rounds ($CONNECTIONS connections, $ROUND each)"
for name in token signed; do taskset -c 0 wrk -t1 -c4 -d2s -s "$T/$name.lua" "http://127.0.0.1:$GH" >/dev/null; done # warm up
signed_token=(); signed_nginx=(); cpu_ratio=()
for round in $(seq "$ROUNDS"); do
    declare -A R C
    # Token first in odd rounds, signed first in even ones: whichever runs first after the
    # nginx replay (or a pause) must not always be the same one.
    order="token signed"; (( round % 2 == 0 )) && order="signed token"
    for name in $order; do
        before=$(cpu_ticks "$gateway_pid")
        out=$(replay "$name")
        after=$(cpu_ticks "$gateway_pid")
        R[$name]=$(echo "$out" | rate)
        C[$name]=$(echo "$out" | awk -v t=$((after - before)) -v hz="$ticks_per_second" '/requests in/ { printf "%.1f", t * 1e6 / hz / $1 }')
    done
    R[nginx]=$(run "http://127.0.0.1:$NGX" -t1 -c"$CONNECTIONS" -d"$ROUND" | rate)
    signed_token+=("$(awk -v s="${R[signed]}" -v t="${R[token]}" 'BEGIN { printf "%.3f", s / t }')")
    signed_nginx+=("$(awk -v s="${R[signed]}" -v n="${R[nginx]}" 'BEGIN { printf "%.3f", s / n }')")
    cpu_ratio+=("$(awk -v s="${C[signed]}" -v t="${C[token]}" 'BEGIN { printf "%.3f", t / s }')")
    printf '  round %d: token %6s req/s (%s us CPU a call), signed %6s req/s (%s us), nginx %6s req/s; signed/token %s, signed/nginx %s\n' \
        "$round" "${R[token]}" "${C[token]}" "${R[signed]}" "${C[signed]}" "${R[nginx]}" "${signed_token[-1]}" "${signed_nginx[-1]}"
done
echo "  signed / token = $(median "${signed_token[@]}") median of $ROUNDS (target >= 0.9); by CPU a call $(median "${cpu_ratio[@]}")"
echo "  signed / nginx = $(median "${signed_nginx[@]}") median of $ROUNDS (target >= 0.5)"
# Every replayed signed call must have been accepted, or the comparison means nothing.
refused=$(grep '"credential":"access_key"' "$T/audit.log" | grep -c '"decision":"deny"' || true)
echo "  signed calls refused: $refused (must be 0)"
[ "$refused" -eq 0 ] || { echo "signed calls were refused; the run is void" >&2; exit 1; }
# The authorize stage's time per call, from the audit lines of the two runs: the difference
# is what verifying a signature costs (gatehouse bench --signing gives it by part).
awk -F'"credential":"' '
    { split($2, c, "\""); kind = c[1]; n = index($0, "\"authorize_us\":"); if (n == 0 || kind == "") next
      v = substr($0, n + 15) + 0; sum[kind] += v; count[kind]++ }
    END { for (k in sum) printf "  authorize stage, %s: %.1f us per call (%d calls)\n", k, sum[k] / count[k], count[k] }' "$T/audit.log"

