#!/bin/sh
# Runs one fuzz target for a while, seeded with the example compositions:
#   fuzz/run.sh composition 300
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
set -eu
target=${1:?name a target: composition, subject, route or request}
seconds=${2:-60}
cd "$(dirname "$0")"
mkdir -p "corpus/$target"
if [ "$target" = composition ]; then
    for example in ../examples/*/ayanami.yaml; do
        name=$(basename "$(dirname "$example")")
        cp "$example" "corpus/composition/$name.yaml"
    done
fi
exec cargo +nightly fuzz run "$target" "corpus/$target" -- -max_total_time="$seconds"
