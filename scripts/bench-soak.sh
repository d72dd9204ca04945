#!/usr/bin/env bash
# Benchmark: the virtual soak of benches/soak-20.toml on the embedded mock, in a release build.
# Prints wall time and peak RSS (targets: ≤ 60 s and ≤ 300 MiB on a 2-core machine).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
out=$(mktemp -d)
/usr/bin/time -v ./target/release/aci-chaos run benches/soak-20.toml --seed 1 --out "$out/run" > "$out/stdout" 2> "$out/time"
cat "$out/stdout"
checks=$(grep -o '"detail":"soaked[^"]*' "$out/run/history.jsonl" | head -1 | sed 's/.*: \([0-9]*\) checks.*/\1/')
wall=$(grep 'Elapsed (wall clock)' "$out/time" | awk '{print $NF}')
rss=$(grep 'Maximum resident set size' "$out/time" | awk '{print $NF}')
echo "soak benchmark: ${checks} checks (20 groups x 90 days every 15 min), wall ${wall}, peak RSS $((rss / 1024)) MiB"
