#!/bin/sh
# The cost of a call of each function kind, through Ayanami's function
# runner, against plain Rust baselines measured in the same run:
#
# - `exec` of a small Rust program, one call at a time, against a loop that
#   spawns the same program, writes it the same JSON and waits for it
#   (goal: within 1.3x);
# - `http` to a loopback server, one call at a time, against a plain hyper
#   client posting the same JSON over a kept connection;
# - a Python function as `worker` and as `exec`, 32 calls in flight
#   (goal: the worker at least 20x the calls per second).
#
#   bench/functions.sh [SECONDS]
#
# SECONDS (default 10) is how long each line is measured. Needs python3.
set -eu
cd "$(dirname "$0")/.."
seconds=${1:-10}
command -v python3 >/dev/null || { echo "python3 is missing: apt-get install python3" >&2; exit 1; }

cargo build --release --locked -q -p ayanami-bench
PATH="$PWD/target/release:$PATH"
export PATH
exec bench-helper kinds "$seconds"
