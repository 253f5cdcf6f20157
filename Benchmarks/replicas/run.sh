#!/usr/bin/env bash
# Several gateways on one PostgreSQL directory against one gateway on SQLite, in one run
# (issue 16), on this machine's two cores:
#   throughput  wrk -> one gateway on SQLite, against wrk -> two gateways on PostgreSQL
#               (two wrk at once, half the connections each, their rates added). Every
#               gateway is pinned to core 1, so one gateway and two share the same CPU; wrk
#               and the upstream (a fixed nginx answer) share core 0. The hot path reads
#               only the in-memory view, so the two should be equal within noise.
#               ROUNDS (default 5) alternating rounds of ROUND (default 4s).
#   propagation a user disabled, then enabled again, in PostgreSQL (one transaction, as the
#               store writes: the change, the version, NOTIFY), CHANGES times (default 100);
#               after each commit, the time until both replicas answer that user's token
#               accordingly (401, then 200); p50 and p99 over all of them.
# Needs wrk, nginx (apt-get install wrk nginx-light), PostgreSQL (postgresql) and psql.
# GATEHOUSE_BIN= names the binary (default: a release build).
set -euo pipefail
cd "$(dirname "$0")/../.."

ROUNDS="${ROUNDS:-5}"
ROUND="${ROUND:-4s}"
CONNECTIONS="${CONNECTIONS:-64}"
CHANGES="${CHANGES:-100}"
. Benchmarks/common.sh
bench_needs "apt-get install wrk nginx-light postgresql" wrk nginx taskset python3 psql
bench_binary
# The throwaway cluster's server runs as the postgres user when root: it must reach $T.
chmod 755 "$T"
cleanup_steps+=("scripts/postgres-cluster.sh stop $T/pg")
start_upstream

ADMIN_URL=$(scripts/postgres-cluster.sh start "$T/pg")
psql "$ADMIN_URL" -qc "CREATE DATABASE directory"
PG="${ADMIN_URL%/postgres}/directory"
"$BIN" directory generate-key --out "$T/directory.key" >/dev/null
"$BIN" directory init --db "$T/directory.sqlite" --seed samples/directory.json >/dev/null
"$BIN" directory init --db "$PG" --seed samples/directory.json >/dev/null
SQLITE_TOKEN=$("$BIN" directory issue-token --db "$T/directory.sqlite" --user dev_only --ttl 1d --mfa 2>/dev/null)
PG_TOKEN=$("$BIN" directory issue-token --db "$PG" --user dev_only --ttl 1d --mfa 2>/dev/null)

# Starts a gateway; its port is left in $STARTED (not printed: called in $(...), the
# subshell's pids+= was lost and the gateways outlived the run).
start_gateway() { # name, directory option (path or url), value
    local port admin
    port=$(free_port); admin=$(free_port)
    env GATEHOUSE_LISTEN_PORT="$port" GATEHOUSE_ADMIN_PORT="$admin" GATEHOUSE_THREADS=1 GATEHOUSE_UPSTREAM_URL="http://127.0.0.1:$UP" \
        "GATEHOUSE_DIRECTORY_$2=$3" GATEHOUSE_AUDIT_PATH="$T/$1-audit.log" GATEHOUSE_TAGS_CACHE_TTL_MS=600000 \
        GATEHOUSE_DIRECTORY_KEY_FILE="$T/directory.key" \
        taskset -c 1 "$BIN" serve >"$T/$1.out" 2>"$T/$1.err" &
    pids+=($!)
    for _ in $(seq 100); do grep -q "gateway listening" "$T/$1.out" 2>/dev/null && break; sleep 0.1; done
    grep -q "gateway listening" "$T/$1.out" || { echo "$1 did not start" >&2; cat "$T/$1.err" >&2; exit 1; }
    STARTED=$port
}
start_gateway sqlite PATH "$T/directory.sqlite"; ONE=$STARTED
start_gateway replica-a URL "$PG"; A=$STARTED
start_gateway replica-b URL "$PG"; B=$STARTED
ready() { curl -fsS -o /dev/null -H "X-Auth-Token: $2" "http://127.0.0.1:$1$path"; }
for _ in $(seq 100); do ready "$A" "$PG_TOKEN" && ready "$B" "$PG_TOKEN" && ready "$ONE" "$SQLITE_TOKEN" && break; sleep 0.1; done
ready "$ONE" "$SQLITE_TOKEN" && ready "$A" "$PG_TOKEN" && ready "$B" "$PG_TOKEN" || { echo "a gateway does not answer" >&2; exit 1; }

load() { # port token connections
    taskset -c 0 wrk -t1 -c"$3" -d"$ROUND" -H "X-Auth-Token: $2" "http://127.0.0.1:$1$path" | rate
}
for port in "$ONE" "$A" "$B"; do # warm up (connections, tag cache)
    token=$PG_TOKEN; [ "$port" = "$ONE" ] && token=$SQLITE_TOKEN
    taskset -c 0 wrk -t1 -c4 -d1s -H "X-Auth-Token: $token" "http://127.0.0.1:$port$path" >/dev/null
done
echo "throughput: one gateway on SQLite against two on PostgreSQL, all on core 1 ($ROUNDS rounds, $CONNECTIONS connections, $ROUND each)"
ratios=()
half=$((CONNECTIONS / 2))
for round in $(seq "$ROUNDS"); do
    one=$(load "$ONE" "$SQLITE_TOKEN" "$CONNECTIONS")
    load "$A" "$PG_TOKEN" "$half" >"$T/a.rate" &
    load "$B" "$PG_TOKEN" "$half" >"$T/b.rate"
    wait $!
    a=$(cat "$T/a.rate"); b=$(cat "$T/b.rate")
    ratios+=("$(awk -v t=$((a + b)) -v o="$one" 'BEGIN { printf "%.3f", t / o }')")
    printf '  round %d: one on SQLite %6s req/s; two on PostgreSQL %6s + %6s = %6s req/s; two / one %s\n' \
        "$round" "$one" "$a" "$b" $((a + b)) "${ratios[-1]}"
done
echo "  two on PostgreSQL / one on SQLite = $(median "${ratios[@]}") median of $ROUNDS (expected about 1)"
denied=$(cat "$T"/*-audit.log | grep -c '"decision":"deny"' || true)
echo "  calls denied: $denied (must be 0)"
[ "$denied" -eq 0 ] || { echo "calls were denied; the run is void" >&2; exit 1; }

echo "propagation: a user disabled or enabled in PostgreSQL until both replicas act on it ($CHANGES changes)"
python3 - "$PG" "$A" "$B" "$PG_TOKEN" "$path" "$CHANGES" <<'PY'
import http.client, subprocess, sys, time
url, a, b, token, path, changes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], int(sys.argv[6])
connections = {port: http.client.HTTPConnection("127.0.0.1", port, timeout=5) for port in (a, b)}
def status(port):
    c = connections[port]
    c.request("GET", path, headers={"X-Auth-Token": token})
    r = c.getresponse(); r.read()
    return r.status
# One psql for all changes, fed a transaction at a time; each is committed when psql echoes
# the marker after it.
psql = subprocess.Popen(["psql", url, "-qAt", "-v", "ON_ERROR_STOP=1"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
samples = []
for n in range(changes):
    disabled = n % 2 == 0
    psql.stdin.write(f"BEGIN; UPDATE users SET disabled = {1 if disabled else 0} WHERE name = 'dev_only'; "
                     "UPDATE directory_version SET version = version + 1; NOTIFY gatehouse_directory; COMMIT; SELECT 'committed';\n")
    psql.stdin.flush()
    assert psql.stdout.readline().strip() == "committed"
    committed = time.perf_counter()
    want = 401 if disabled else 200
    pending = {a, b}
    while pending:
        for port in list(pending):
            if status(port) == want: pending.discard(port)
        if time.perf_counter() - committed > 5: sys.exit(f"change {n}: not seen within 5 s")
    samples.append((time.perf_counter() - committed) * 1000)
samples.sort()
pick = lambda q: samples[min(len(samples) - 1, int(q * len(samples)))]
print(f"  until both replicas act on it: p50 {pick(0.5):.1f} ms, p99 {pick(0.99):.1f} ms, max {samples[-1]:.1f} ms (target: within 1 s)")
PY
