#!/bin/sh
# Load test of `GET /`: the example's root flow through `ayanami run`
# against a bare axum server with the same body, in one run on this machine.
#
#   bench/http.sh [SECONDS] [CONNECTIONS]
#
# Prints each one's requests per second, p50 and p99 latency and peak RSS,
# the ratios between them, and how long `ayanami run` takes from start to its
# first answer. Needs wrk (Debian package `wrk`).
set -eu
cd "$(dirname "$0")/.."
seconds=${1:-10}
connections=${2:-32}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }

cargo build --release --locked -q -p ayanami --bin ayanami
cargo build --release --locked -q -p ayanami-gateway --example bare
ayanami=target/release/ayanami
bare=target/release/examples/bare
port_ayanami=18411
port_bare=18412

pids=""
cleanup() { for pid in $pids; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM

now_ms() { date +%s%3N; }

# Polls PORT until it answers 200; gives up when PID dies or after 10 s.
wait_for() {
    tries=0
    until curl -fs -o /dev/null "http://127.0.0.1:$1/"; do
        kill -0 "$2" 2>/dev/null || { echo "server on port $1 died" >&2; exit 1; }
        tries=$((tries + 1))
        [ $tries -lt 10000 ] || { echo "server on port $1 never answered" >&2; exit 1; }
    done
}

# Start-up: from exec to the first 200 answer.
started=$(now_ms)
AYANAMI_LOG=warn "$ayanami" run examples/megazord --port $port_ayanami &
pid_ayanami=$!
pids="$pids $pid_ayanami"
wait_for $port_ayanami $pid_ayanami
first_answer=$(( $(now_ms) - started ))

"$bare" $port_bare &
pid_bare=$!
pids="$pids $pid_bare"
wait_for $port_bare $pid_bare

# One load run: prints "rps p50_ms p99_ms".
load() {
    wrk -t1 -c"$connections" -d"${seconds}s" --latency "http://127.0.0.1:$1/" | awk '
        /Requests\/sec/ { rps = $2 }
        $1 == "50%" { p50 = $2 } $1 == "99%" { p99 = $2 }
        function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
        END { printf "%.0f %.3f %.3f\n", rps, ms(p50), ms(p99) }'
}
peak_rss_mib() { awk '/VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }

set -- $(load $port_bare)
bare_rps=$1 bare_p50=$2 bare_p99=$3
set -- $(load $port_ayanami)
ay_rps=$1 ay_p50=$2 ay_p99=$3

printf '%-16s %10s %10s %10s %12s\n' "" "req/s" "p50 ms" "p99 ms" "peak RSS MiB"
printf '%-16s %10s %10s %10s %12s\n' "bare axum" "$bare_rps" "$bare_p50" "$bare_p99" "$(peak_rss_mib $pid_bare)"
printf '%-16s %10s %10s %10s %12s\n' "ayanami run" "$ay_rps" "$ay_p50" "$ay_p99" "$(peak_rss_mib $pid_ayanami)"
awk -v a="$ay_rps" -v b="$bare_rps" -v pa="$ay_p99" -v pb="$bare_p99" 'BEGIN {
    printf "ratio: ayanami/bare req/s = %.2f (goal >= 0.5), p99 = %.2fx (goal <= 2)\n", a / b, pa / pb }'
echo "first answer after start: ${first_answer} ms (goal < 100, includes curl's own start-ups)"
