# What the benchmark scripts share; sourced by each from the checkout's root, which then
# calls bench_needs and bench_binary:
#   BIN        the gatehouse binary (GATEHOUSE_BIN=, else a release build)
#   T, pids    a temporary folder and the processes started, both gone on exit;
#              cleanup_steps+=("command") adds a step to that
#   nginx_conf, and start_upstream: a fixed nginx answer (also for the tag API) on $UP,
#              pinned to core 0
#   free_port, rate, calls, p99, median, to_ms, cpu_ticks PID

# bench_needs "install hint" tool...: exits 2 naming the first tool missing.
bench_needs() {
    local hint=$1
    shift
    for tool in "$@"; do
        command -v "$tool" >/dev/null || { echo "missing $tool ($hint)" >&2; exit 2; }
    done
}

# bench_binary: BIN, the gatehouse binary. GATEHOUSE_BIN= runs another build (say, of an
# earlier commit) for a side-by-side comparison; it is unset once read (`serve` refuses
# GATEHOUSE_* variables that are not its options). Else a release build.
bench_binary() {
    if [ -n "${GATEHOUSE_BIN:-}" ]; then
        BIN="$GATEHOUSE_BIN"
        unset GATEHOUSE_BIN
    else
        swift build -c release --product gatehouse >&2
        BIN="$(swift build -c release --show-bin-path)/gatehouse"
    fi
}

T="$(mktemp -d)"
pids=()
cleanup_steps=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    for step in "${cleanup_steps[@]}"; do eval "$step" 2>/dev/null || true; done
    rm -rf "$T"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
ACCOUNT=05261f923e80d3890f33c0056e9b3f80
path="/v1/organizations/accounts/$ACCOUNT"

# nginx_conf NAME BODY: $T/NAME.conf, one nginx worker in the foreground serving BODY (its
# http block's servers and upstreams).
nginx_conf() {
    mkdir -p "$T/nginx"
    cat >"$T/$1.conf" <<CONF
daemon off; master_process off; worker_processes 1;
pid $T/$1.pid; error_log $T/$1-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $T/nginx; proxy_temp_path $T/nginx; fastcgi_temp_path $T/nginx;
    uwsgi_temp_path $T/nginx; scgi_temp_path $T/nginx;
    keepalive_requests 10000000;
    $2
}
CONF
}

# The account service stand-in every run uses: a fixed answer for the account and for its
# tags, from one nginx worker on core 0 (beside wrk), on a free port in $UP.
start_upstream() {
    UP=$(free_port)
    nginx_conf upstream "server { listen 127.0.0.1:$UP;
        location ~ /tags\$ { default_type application/json; return 200 '{\"tags\": [{\"key\": \"env\", \"value\": \"dev\"}]}'; }
        location / { default_type application/json; return 200 '{\"account\": {\"id\": \"$ACCOUNT\", \"name\": \"dev-sandbox\", \"status\": \"active\"}}'; } }"
    taskset -c 0 nginx -c "$T/upstream.conf" &
    pids+=($!)
}

# Reading wrk's report.
rate() { awk '/Requests\/sec/ {print int($2)}'; }
calls() { awk '/requests in/ {print $1}'; }
p99() { awk '$1 == "99%" {print $2}'; }
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# wrk's latency (us, ms or s) in ms.
to_ms() { awk -v v="$1" 'BEGIN { if (v ~ /us$/) { sub(/us$/, "", v); print v / 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v); print v } else { sub(/s$/, "", v); print v * 1000 } }'; }
# A process's user and system CPU so far, in clock ticks (getconf CLK_TCK a second).
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
