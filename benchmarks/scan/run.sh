#!/usr/bin/env bash
# The whole-scan benchmark: builds a data set (by default the deterministic synthetic one: 8 images in OCI layouts, 12
# distinct layers, gzip and zstd variants, see tests/LayerStats.Fixtures/BenchData.cs; with --data-set debian a
# family of real images built from Debian packages, see benchmarks/scan/debian-images.sh) and times, on the same distinct layers, in one run:
# layerstats scan (fresh DB), the `gzip -dc | sha256sum` and `zstd -dc | sha256sum` baselines (sequential and 2 at
# a time), the in-process limit (decompress + SHA-256 only, all cores), the walk (the limit plus the tar walk hashing
# every file: the scan without its database), an unchanged rescan and `report summary`.
# Prints medians, MB/s of uncompressed tar, ratios and peak RSS. See benchmarks/README.md, "Whole scan".
# SC2016: the single-quoted strings are scripts for sh -c and eval, expanded there.
# shellcheck disable=SC2016
set -euo pipefail

N=5
SCALE=1
SEED=42
WORK="${TMPDIR:-/tmp}/layerstats-bench"
DATA=""
EXTRA=1
BUILD=1
DATA_SET=synthetic
SUITE=bookworm
MIRROR=http://deb.debian.org/debian

usage() {
    cat <<EOF
usage: benchmarks/scan/run.sh [-n RUNS] [--data-set synthetic|debian] [--scale S] [--seed N] [--suite S] [--mirror URL]
                              [--work DIR] [--data DIR] [--no-extra] [--no-build]
  -n RUNS      timed runs of every command; medians (and the best run) are printed (default 5)
  --data-set D synthetic (default: tests/LayerStats.Fixtures bench-data) or debian (real images built from Debian
               packages by benchmarks/scan/debian-images.sh: needs root and the Debian mirror; ~0.86 GB of distinct
               tar; the debootstrap result and .debs are cached in WORK/debian-cache)
  --scale S    synthetic data set size factor (default 1: ~0.78 GB of distinct tar, ~0.28 GB per compressed variant)
  --seed N     synthetic data set seed (default 42)
  --suite S    debian data set: Debian suite (default bookworm)
  --mirror URL debian data set: Debian mirror (default http://deb.debian.org/debian)
  --work DIR   builds, databases and results (default \$TMPDIR/layerstats-bench or /tmp/layerstats-bench)
  --data DIR   the data set (default WORK/data-SCALE-SEED or WORK/data-debian-SUITE; regenerated only when missing
               or built with other options)
  --no-extra   skip the where-does-the-time-go runs (--jobs 1 and 4, verify-only, --file-hash sha256, the tiered
               JIT on, limit --jobs 1 and in input order)
  --no-build   use the binaries of a previous run in WORK
EOF
}

while [ $# -gt 0 ]; do
    case "$1" in
        -n) N=$2; shift 2 ;;
        --scale) SCALE=$2; shift 2 ;;
        --seed) SEED=$2; shift 2 ;;
        --data-set) DATA_SET=$2; shift 2 ;;
        --suite) SUITE=$2; shift 2 ;;
        --mirror) MIRROR=$2; shift 2 ;;
        --work) WORK=$2; shift 2 ;;
        --data) DATA=$2; shift 2 ;;
        --no-extra) EXTRA=0; shift ;;
        --no-build) BUILD=0; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done

case "$DATA_SET" in
    synthetic | debian) ;;
    *) echo "unknown data set: $DATA_SET (synthetic or debian)" >&2; exit 2 ;;
esac

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=benchmarks/scan/lib.sh source-path=SCRIPTDIR/../..
source "$ROOT/benchmarks/scan/lib.sh"
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
if [ "$DATA_SET" = debian ]; then
    DATA=${DATA:-$WORK/data-debian-$SUITE}
else
    DATA=${DATA:-$WORK/data-$SCALE-$SEED}
fi
LS="$WORK/ls/layerstats"
FIXTURES="$ROOT/tests/LayerStats.Fixtures/bin/Release/net10.0/LayerStats.Fixtures"
BENCH="$ROOT/benchmarks/LayerStats.Benchmarks/bin/Release/net10.0/LayerStats.Benchmarks"
DB="$WORK/scan.duckdb"
RUNS="$WORK/runs.tsv"
OUT="$WORK/results.txt"

require_tools "" gzip zstd sha256sum xargs

if [ "$BUILD" = 1 ]; then
    echo "building (Release) ..." >&2
    dotnet publish "$ROOT/src/LayerStats.Cli" -c Release -o "$WORK/ls" -nologo -v q >/dev/null
    [ "$DATA_SET" = debian ] || dotnet build "$ROOT/tests/LayerStats.Fixtures" -c Release -nologo -v q >/dev/null
    dotnet build "$ROOT/benchmarks/LayerStats.Benchmarks" -c Release -nologo -v q >/dev/null
fi

if [ "$DATA_SET" = debian ]; then
    PARAMS="debian suite=$SUITE mirror=$MIRROR"
    DATA_OPTIONS="--data-set debian --suite $SUITE --mirror $MIRROR"
else
    PARAMS="scale=$SCALE seed=$SEED"
    DATA_OPTIONS="--scale $SCALE --seed $SEED"
fi
GEN_SECONDS=""
if [ "$(cat "$DATA/.params" 2>/dev/null)" != "$PARAMS" ]; then
    echo "generating the data set in $DATA ($PARAMS) ..." >&2
    t0=$EPOCHREALTIME
    rm -f "$DATA/.params"
    if [ "$DATA_SET" = debian ]; then
        "$ROOT/benchmarks/scan/debian-images.sh" "$DATA" --suite "$SUITE" --mirror "$MIRROR" --cache "$WORK/debian-cache"
    else
        "$FIXTURES" bench-data "$DATA" --scale "$SCALE" --seed "$SEED"
    fi
    GEN_SECONDS=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
    echo "$PARAMS" > "$DATA/.params"
fi

TAR_BYTES=$(awk -F'\t' 'NR > 1 { s += $2 } END { print s }' "$DATA/layers.tsv")
GZ_BYTES=$(awk -F'\t' 'NR > 1 { s += $7 } END { print s }' "$DATA/layers.tsv")
ZST_BYTES=$(awk -F'\t' 'NR > 1 { s += $9 } END { print s }' "$DATA/layers.tsv")
FILES=$(awk -F'\t' 'NR > 1 { s += $4 } END { print s }' "$DATA/layers.tsv")
ENTRIES=$(awk -F'\t' 'NR > 1 { s += $3 } END { print s }' "$DATA/layers.tsv")
LAYERS=$(($(wc -l < "$DATA/layers.tsv") - 1))
IMAGES=$(wc -l < "$DATA/images.txt")
GZ_LAYOUTS=("$DATA"/gzip/*)
ZST_LAYOUTS=("$DATA"/zstd/*)

: > "$RUNS"

fresh() { rm -f "$DB" "$DB.wal"; }

echo "timing ($N runs each) ..." >&2
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# (1) the scan, fresh database, default jobs; (5) unchanged rescan; (6) report summary
measure scan-gzip fresh "$LS" scan --db "$DB" "${GZ_LAYOUTS[@]}"
SCAN_LINE=$(tail -1 "$WORK/scan-gzip.stderr")
measure rescan-gzip : "$LS" scan --db "$DB" "${GZ_LAYOUTS[@]}"
RESCAN_LINE=$(tail -1 "$WORK/rescan-gzip.stderr")
measure report-summary : "$LS" report summary --db "$DB"
measure scan-zstd fresh "$LS" scan --db "$DB" "${ZST_LAYOUTS[@]}"
cp "$DB" "$WORK/zstd-only.duckdb"

# (4) the in-process limit: decompress + SHA-256 (digest and diff_id) only, all cores. It runs with the tiered JIT
# off, as a published layerstats does: with it on, ZstdSharp (managed) starts as unoptimised tier-0 code and the
# limit comes out ~20 % slower than it can be, which would flatter the scan's ratio.
measure limit-gzip 'export DOTNET_TieredCompilation=0' "$BENCH" --limit "${GZ_LAYOUTS[@]}"
measure limit-zstd 'export DOTNET_TieredCompilation=0' "$BENCH" --limit "${ZST_LAYOUTS[@]}"
# (4b) the scan's read path without the database: the limit plus the tar walk that hashes every file (LayerReader,
# entries counted and dropped). The scan can come no closer to the limit than this.
measure walk-gzip 'export DOTNET_TieredCompilation=0' "$BENCH" --limit --walk "${GZ_LAYOUTS[@]}"
measure walk-zstd 'export DOTNET_TieredCompilation=0' "$BENCH" --limit --walk "${ZST_LAYOUTS[@]}"
unset DOTNET_TieredCompilation

# (2), (3) the command-line baselines over the same distinct blobs (diff_id only: the compressed digest is not computed)
measure gzip-sha256sum : bash -c 'while IFS= read -r f; do gzip -dc "$f" | sha256sum; done < "$1"' _ "$DATA/layers-gzip.txt"
measure gzip-sha256sum-P2 : xargs -P2 -n1 -a "$DATA/layers-gzip.txt" sh -c 'gzip -dc "$1" | sha256sum' _
measure zstd-sha256sum : bash -c 'while IFS= read -r f; do zstd -qdc "$f" | sha256sum; done < "$1"' _ "$DATA/layers-zstd.txt"
measure zstd-sha256sum-P2 : xargs -P2 -n1 -a "$DATA/layers-zstd.txt" sh -c 'zstd -qdc "$1" | sha256sum' _

if [ "$EXTRA" = 1 ]; then
    measure scan-gzip-jobs1 fresh "$LS" scan --db "$DB" --jobs 1 "${GZ_LAYOUTS[@]}"
    measure scan-gzip-jobs4 fresh "$LS" scan --db "$DB" --jobs 4 "${GZ_LAYOUTS[@]}"
    measure scan-gzip-sha256 fresh "$LS" scan --db "$DB" --file-hash sha256 "${GZ_LAYOUTS[@]}"
    # The zstd variant's content (diff_ids) is already stored: every gzip blob is read and verified, no tar walk,
    # no file rows written.
    measure scan-gzip-verify 'cp "$WORK/zstd-only.duckdb" "$DB"; rm -f "$DB.wal"; sync "$DB"' "$LS" scan --db "$DB" "${GZ_LAYOUTS[@]}"
    VERIFY_LINE=$(tail -1 "$WORK/scan-gzip-verify.stderr")
    # The tiered JIT on (a published layerstats turns it off): ZstdSharp (managed) and the tar walk then run partly as
    # unoptimised tier-0 code.
    measure scan-gzip-tiered 'fresh; export DOTNET_TieredCompilation=1' "$LS" scan --db "$DB" "${GZ_LAYOUTS[@]}"
    measure scan-zstd-tiered 'fresh; export DOTNET_TieredCompilation=1' "$LS" scan --db "$DB" "${ZST_LAYOUTS[@]}"
    measure limit-zstd-tiered 'export DOTNET_TieredCompilation=1' "$BENCH" --limit "${ZST_LAYOUTS[@]}"
    export DOTNET_TieredCompilation=0
    measure limit-gzip-jobs1 : "$BENCH" --limit --jobs 1 "${GZ_LAYOUTS[@]}"
    measure limit-gzip-in-order : "$BENCH" --limit --in-order "${GZ_LAYOUTS[@]}"
    unset DOTNET_TieredCompilation
fi
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

mbps() { awk -v b="$TAR_BYTES" -v s="$1" 'BEGIN { printf "%.0f", b / 1e6 / s }'; }
ratio() { awk -v a="${MEDIAN[$1]}" -v b="${MEDIAN[$2]}" -v c="${CPU[$1]}" -v d="${CPU[$2]}" 'BEGIN { printf "%.2f (cpu %.2f)", a / b, c / d }'; }

{
    echo "# LayerStats whole-scan benchmark"
    machine_line
    echo "load average before / after: $LOAD_BEFORE / $LOAD_AFTER"
    echo "command: benchmarks/scan/run.sh -n $N $DATA_OPTIONS${GEN_SECONDS:+ (data set generated in $GEN_SECONDS s)}"
    echo "data: $IMAGES images, $LAYERS distinct layers, $ENTRIES tar entries ($FILES regular files); tar $TAR_BYTES bytes ($(awk -v b="$TAR_BYTES" 'BEGIN { printf "%.0f", b / 1e6 }') MB), gzip $GZ_BYTES ($(awk -v a="$TAR_BYTES" -v b="$GZ_BYTES" 'BEGIN { printf "%.2fx", a / b }')), zstd $ZST_BYTES ($(awk -v a="$TAR_BYTES" -v b="$ZST_BYTES" 'BEGIN { printf "%.2fx", a / b }')); page cache warm"
    [ -f "$DATA/source.txt" ] && echo "data source: $(cat "$DATA/source.txt"); images: $(cut -f1 "$DATA/images.txt" | tr '\n' ' ')"
    echo "scan: $SCAN_LINE"
    echo "rescan: $RESCAN_LINE"
    [ -n "${VERIFY_LINE:-}" ] && echo "verify-only scan: $VERIFY_LINE"
    echo
    printf '| %-20s | %8s | %8s | %10s | %11s | %7s | %8s |\n' "run (N=$N)" "median s" "best s" "MB/s (med)" "MB/s (best)" "cpu s" "RSS MiB"
    printf '|%s|%s|%s|%s|%s|%s|%s|\n' "----------------------" "---------:" "---------:" "-----------:" "------------:" "--------:" "---------:"
    for key in scan-gzip scan-zstd rescan-gzip report-summary limit-gzip limit-zstd walk-gzip walk-zstd gzip-sha256sum gzip-sha256sum-P2 \
        zstd-sha256sum zstd-sha256sum-P2 scan-gzip-jobs1 scan-gzip-jobs4 scan-gzip-sha256 scan-gzip-verify \
        scan-gzip-tiered scan-zstd-tiered limit-zstd-tiered limit-gzip-jobs1 limit-gzip-in-order; do
        [ -n "${MEDIAN[$key]:-}" ] || continue
        case "$key" in
            rescan-* | report-*) rate="-" best="-" ;;
            *) rate=$(mbps "${MEDIAN[$key]}") best=$(mbps "${BEST[$key]}") ;;
        esac
        printf '| %-20s | %8s | %8s | %10s | %11s | %7s | %8s |\n' "$key" "${MEDIAN[$key]}" "${BEST[$key]}" "$rate" "$best" "${CPU[$key]}" "$(mib "$key")"
    done
    echo
    echo "ratios of median wall times (and of median CPU times):"
    echo "  scan / in-process limit             gzip $(ratio scan-gzip limit-gzip)   zstd $(ratio scan-zstd limit-zstd)"
    echo "  walk (no database) / limit          gzip $(ratio walk-gzip limit-gzip)   zstd $(ratio walk-zstd limit-zstd)"
    echo "  scan / walk (what the database adds) gzip $(ratio scan-gzip walk-gzip)   zstd $(ratio scan-zstd walk-zstd)"
    echo "  gzip|sha256sum / scan (speed-up)    sequential $(ratio gzip-sha256sum scan-gzip)   -P2 $(ratio gzip-sha256sum-P2 scan-gzip)"
    echo "  zstd|sha256sum / scan (speed-up)    sequential $(ratio zstd-sha256sum scan-zstd)   -P2 $(ratio zstd-sha256sum-P2 scan-zstd)"
    echo "  rescan / first scan                 $(ratio rescan-gzip scan-gzip)"
    echo "  rescan / first scan, own clock      $(awk -v a="${OWN[rescan-gzip]}" -v b="${OWN[scan-gzip]}" 'BEGIN { printf "%.3f (%.3f s / %.3f s: from opening the database, process start excluded)", a / b, a, b }')"
    echo "  peak RSS of the scan                gzip $(mib scan-gzip) MiB   zstd $(mib scan-zstd) MiB"
    if [ "$EXTRA" = 1 ]; then
        echo "  scan --jobs 1 / scan (default)      $(ratio scan-gzip-jobs1 scan-gzip)   limit --jobs 1 / limit: $(ratio limit-gzip-jobs1 limit-gzip)"
        echo "  scan --jobs 4 / scan (default)      $(ratio scan-gzip-jobs4 scan-gzip)"
        echo "  verify-only / scan                  $(ratio scan-gzip-verify scan-gzip)"
        echo "  --file-hash sha256 / scan           $(ratio scan-gzip-sha256 scan-gzip)"
        echo "  tiered JIT on / off                 scan gzip $(ratio scan-gzip-tiered scan-gzip)   scan zstd $(ratio scan-zstd-tiered scan-zstd)   limit zstd $(ratio limit-zstd-tiered limit-zstd)"
        echo "  limit in input order / largest first  $(ratio limit-gzip-in-order limit-gzip)"
    fi
    echo
    echo "every run (key, run, wall s, cpu s, peak RSS KiB, own clock s): $RUNS"
} | tee "$OUT"
