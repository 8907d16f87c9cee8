#!/bin/sh
# Load test of flows with one and two function calls (a worker written in
# Rust), through `ayanami run` on the in-memory bus and over NATS, against
# the floor of raw async-nats request-reply (an axum handler making the same
# number of round trips to a responder process), all in one run.
#
#   bench/flows.sh [SECONDS] [CONNECTIONS]
#
# Needs wrk and nats-server (Debian packages of the same names).
set -eu
cd "$(dirname "$0")/.."
seconds=${1:-10}
connections=${2:-32}
for tool in wrk nats-server curl; do
    command -v $tool >/dev/null || { echo "$tool is missing: apt-get install $tool" >&2; exit 1; }
done

cargo build --release --locked -q -p ayanami --bin ayanami
cargo build --release --locked -q -p ayanami-bench
PATH="$PWD/target/release:$PATH"
export PATH AYANAMI_LOG=warn

pids=""
cleanup() { for pid in $pids; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM

wait_for() {
    tries=0
    until curl -fs -o /dev/null "http://127.0.0.1:$1$3"; do
        kill -0 "$2" 2>/dev/null || { echo "server on port $1 died" >&2; exit 1; }
        tries=$((tries + 1))
        [ $tries -lt 10000 ] || { echo "server on port $1 never answered" >&2; exit 1; }
    done
}

nats_port=18420
nats-server -a 127.0.0.1 -p $nats_port >/dev/null 2>&1 &
pids="$pids $!"
url="nats://127.0.0.1:$nats_port"
tries=0
until bash -c "exec 3<>/dev/tcp/127.0.0.1/$nats_port" 2>/dev/null; do
    tries=$((tries + 1))
    [ $tries -lt 200 ] || { echo "nats-server did not start" >&2; exit 1; }
    sleep 0.05
done

bench-helper responder "$url" >/dev/null &
pids="$pids $!"
bench-helper floor "$url" 18421 &
pid=$!; pids="$pids $pid"; wait_for 18421 $pid /one
ayanami run bench/project --port 18422 &
pid=$!; pids="$pids $pid"; wait_for 18422 $pid /one
ayanami run bench/project --port 18423 --nats "$url" &
pid=$!; pids="$pids $pid"; wait_for 18423 $pid /one

rps() {
    wrk -t1 -c"$connections" -d"${seconds}s" "http://127.0.0.1:$1$2" | awk '/Requests\/sec/ { printf "%.0f", $2 }'
}

printf '%-28s %10s %10s\n' "" "/one" "/two"
floor_one=$(rps 18421 /one); floor_two=$(rps 18421 /two)
printf '%-28s %10s %10s\n' "raw async-nats floor" "$floor_one" "$floor_two"
nats_one=$(rps 18423 /one); nats_two=$(rps 18423 /two)
printf '%-28s %10s %10s\n' "ayanami run --nats" "$nats_one" "$nats_two"
mem_one=$(rps 18422 /one); mem_two=$(rps 18422 /two)
printf '%-28s %10s %10s\n' "ayanami run (memory)" "$mem_one" "$mem_two"
awk -v f1="$floor_one" -v f2="$floor_two" -v n1="$nats_one" -v n2="$nats_two" -v m1="$mem_one" -v m2="$mem_two" 'BEGIN {
    printf "NATS / floor:   %.2f %.2f (goal >= 0.67)\n", n1 / f1, n2 / f2
    printf "memory / NATS:  %.2f %.2f (goal >= 3)\n", m1 / n1, m2 / n2 }'
