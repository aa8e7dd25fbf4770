#!/usr/bin/env bash
# The store at scale: generates a fleet-sized LayerStats database (default 10,000 images / 50 million file rows, see
# LayerStats.StoreBench/Generator.cs), then times every report view and every HTML section with the tool's DuckDB
# settings, and `layerstats report html` as a process (GNU time: wall and peak RSS). See benchmarks/README.md,
# "Store at scale".
#   benchmarks/store/run.sh [--db FILE] [--images N] [--files N] [-n RUNS] [--regenerate]
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
WORK="${TMPDIR:-/tmp}/layerstats-store"
DB=""
IMAGES=10000
FILES=50000000
RUNS=3
REGEN=0
while [ $# -gt 0 ]; do
    case "$1" in
        --db) DB=$2; shift 2 ;;
        --images) IMAGES=$2; shift 2 ;;
        --files) FILES=$2; shift 2 ;;
        -n) RUNS=$2; shift 2 ;;
        --regenerate) REGEN=1; shift ;;
        -h|--help) sed -n 2,6p "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
mkdir -p "$WORK"
DB="${DB:-$WORK/store-$IMAGES-$FILES.duckdb}"

dotnet build "$ROOT/benchmarks/store/LayerStats.StoreBench" -c Release -o "$WORK/bench" >/dev/null
dotnet build "$ROOT/src/LayerStats.Cli" -c Release -o "$WORK/cli" >/dev/null

if [ ! -f "$DB" ] || [ "$REGEN" = 1 ]; then
    /usr/bin/time -f "generate: %e s wall, peak RSS %M KB" "$WORK/bench/LayerStats.StoreBench" generate "$DB" --images "$IMAGES" --files "$FILES"
else
    "$WORK/bench/LayerStats.StoreBench" describe "$DB"
fi

"$WORK/bench/LayerStats.StoreBench" time "$DB" -n "$RUNS"

for i in $(seq "$RUNS"); do
    /usr/bin/time -f "report html: %e s wall, %U s user, %S s sys, peak RSS %M KB" \
        "$WORK/cli/layerstats" report html --db "$DB" --out "$WORK/report.html"
done
ls -l "$WORK/report.html"
