#!/usr/bin/env bash
# Issue 5's large cases in one run: builds (once, cached in WORK/data) a 2 GB gzip layer of realistic files (and the
# same tar as zstd), a layer holding one 1 GiB file, a layer of a million tiny files and 2,000 images, then times on
# each `layerstats scan` into a fresh database and an unchanged rescan; on the single-layer cases also the in-process
# limit kernel (decompress + the two SHA-256s, nothing else) and `gzip -dc | sha256sum` (`zstd -dc`) on the same
# blob. Prints medians, CPU, cores used, peak RSS and the ratios, with PASS/FAIL against the issue's targets (peak
# RSS <= 256 MiB; the 2 GB layer's scan >= 80 % of the kernel's speed; a rescan <= 3 % of the first scan, no layer
# read). See benchmarks/README.md, "Where issue 5 stands".
# SC2016: the single-quoted strings are scripts for sh -c and eval, expanded there.
# shellcheck disable=SC2016
set -euo pipefail

N=3
WORK="${TMPDIR:-/tmp}/layerstats-large"
BUILD=1
ALL_CASES=big-layer,big-layer-zstd,big-file,many-files,many-images
ONLY=$ALL_CASES
BIG_BYTES=2000000000
FILE_BYTES=1073741824
FILES=1000000
IMAGES=2000
SEED=42

usage() {
    cat <<EOF
usage: benchmarks/scan/large-cases.sh [-n RUNS] [--work DIR] [--no-build] [--only CASE[,CASE...]]
                                      [--big-bytes N] [--file-bytes N] [--files N] [--images N] [--seed S]
  -n RUNS       timed runs of every command; medians (and the best run) are printed (default 3)
  --work DIR    builds, data, databases and results (default \$TMPDIR/layerstats-large or /tmp/layerstats-large);
                the data (~2.1 GB at the default sizes) is made once in WORK/data, again only when missing or made
                with other sizes
  --no-build    use the binaries of a previous run in WORK
  --only CASES  some of: $ALL_CASES (default all)
                big-layer       one gzip layer of ~2 GB of tar: ~15 k files of mixed sizes, ~2-3x compressible
                                (benchmarks/scan/big-layer.py); big-layer-zstd: the same tar as zstd
                big-file        one gzip layer holding one 1 GiB file (semi-compressible) and a few small files
                many-files      one gzip layer of a million tiny files (benchmarks/scan/many-files.py)
                many-images     2,000 images on 20 bases, 4 layers each (benchmarks/scan/many-images.py)
  --big-bytes N  big-layer's tar size (default 2000000000)    --file-bytes N  big-file's file size (default 1 GiB)
  --files N      many-files' files (default 1000000)          --images N      many-images' images (default 2000)
  --seed S       the generators' seed (default 42)
needs: python3, pigz, zstd, gzip, sha256sum, GNU time (apt-get install -y pigz zstd time)
EOF
}

while [ $# -gt 0 ]; do
    case "$1" in
        -n) N=$2; shift 2 ;;
        --work) WORK=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --only) ONLY=$2; shift 2 ;;
        --big-bytes) BIG_BYTES=$2; shift 2 ;;
        --file-bytes) FILE_BYTES=$2; shift 2 ;;
        --files) FILES=$2; shift 2 ;;
        --images) IMAGES=$2; shift 2 ;;
        --seed) SEED=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done

IFS=, read -r -a CASES <<< "$ONLY"
for c in "${CASES[@]}"; do
    [[ ",$ALL_CASES," == *",$c,"* ]] || { echo "unknown case: $c (one of $ALL_CASES)" >&2; exit 2; }
done

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SCAN_DIR="$ROOT/benchmarks/scan"
# shellcheck source=benchmarks/scan/lib.sh source-path=SCRIPTDIR/../..
source "$SCAN_DIR/lib.sh"
mkdir -p "$WORK/data"
WORK=$(cd "$WORK" && pwd)
LS="$WORK/ls/layerstats"
BENCH="$ROOT/benchmarks/LayerStats.Benchmarks/bin/Release/net10.0/LayerStats.Benchmarks"
DB="$WORK/scan.duckdb"
RUNS="$WORK/runs.tsv"
OUT="$WORK/results.txt"

require_tools "apt-get install -y pigz zstd" python3 pigz zstd gzip sha256sum

if [ "$BUILD" = 1 ]; then
    echo "building (Release) ..." >&2
    dotnet publish "$ROOT/src/LayerStats.Cli" -c Release -o "$WORK/ls" -nologo -v q >/dev/null
    dotnet build "$ROOT/benchmarks/LayerStats.Benchmarks" -c Release -nologo -v q >/dev/null
fi

# generate NAME PARAMS CMD...: makes WORK/data/NAME with CMD unless it holds data made with PARAMS (then notes NAME
# in GENERATED, and the generation time and disk space in WORK/data/NAME/.made).
GENERATED=()
generate() {
    local name=$1 params=$2 dir="$WORK/data/$1" t0 seconds
    shift 2
    if [ "$(cat "$dir/.params" 2>/dev/null)" = "$params" ]; then
        return
    fi
    echo "generating $name in $dir ($params) ..." >&2
    rm -rf "$dir"
    t0=$EPOCHREALTIME
    "$@" > "$WORK/data/$name.log"
    for layout in "$dir" "$dir"/gzip "$dir"/zstd; do
        [ -f "$layout/index.json" ] && python3 "$SCAN_DIR/layout-stats.py" "$layout" > "$layout/stats.tsv"
    done
    seconds=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }')
    echo "$name: $params, made in $seconds s, $(du -sh "$dir" | cut -f1) on disk" > "$dir/.made"
    echo "$params" > "$dir/.params"
    GENERATED+=("$name")
}

# the layout of a case, and for a single-layer case its blob and the command-line decompressor
declare -A LAYOUT BLOB TOOL
for c in "${CASES[@]}"; do
    case "$c" in
        big-layer | big-layer-zstd)
            generate big-layer "big-layer.py --tar-bytes $BIG_BYTES --zstd --seed $SEED" \
                python3 "$SCAN_DIR/big-layer.py" "$WORK/data/big-layer" --tar-bytes "$BIG_BYTES" --zstd --seed "$SEED"
            if [ "$c" = big-layer ]; then
                LAYOUT[$c]="$WORK/data/big-layer/gzip" TOOL[$c]=gzip
                BLOB[$c]=$(awk -F'\t' 'NR == 2 { print $6 }' "$WORK/data/big-layer/layer.tsv")
            else
                LAYOUT[$c]="$WORK/data/big-layer/zstd" TOOL[$c]=zstd
                BLOB[$c]=$(awk -F'\t' 'NR == 2 { print $9 }' "$WORK/data/big-layer/layer.tsv")
            fi ;;
        big-file)
            generate big-file "big-layer.py --one-file $FILE_BYTES --seed $SEED" \
                python3 "$SCAN_DIR/big-layer.py" "$WORK/data/big-file" --one-file "$FILE_BYTES" --seed "$SEED"
            LAYOUT[$c]="$WORK/data/big-file/gzip" TOOL[$c]=gzip
            BLOB[$c]=$(awk -F'\t' 'NR == 2 { print $6 }' "$WORK/data/big-file/layer.tsv") ;;
        many-files)
            generate many-files "many-files.py --files $FILES --seed $SEED" \
                python3 "$SCAN_DIR/many-files.py" "$WORK/data/many-files" --files "$FILES" --seed "$SEED"
            LAYOUT[$c]="$WORK/data/many-files" ;;
        many-images)
            generate many-images "many-images.py --images $IMAGES --seed $SEED" \
                python3 "$SCAN_DIR/many-images.py" "$WORK/data/many-images" --images "$IMAGES" --seed "$SEED"
            LAYOUT[$c]="$WORK/data/many-images" ;;
    esac
done

fresh() { rm -f "$DB" "$DB.wal"; }

: > "$RUNS"
echo "timing ($N runs each) ..." >&2
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A SCAN_LINE RESCAN_LINE
for c in "${CASES[@]}"; do
    measure "$c.scan" fresh "$LS" scan --db "$DB" "${LAYOUT[$c]}"
    SCAN_LINE[$c]=$(tail -1 "$WORK/$c.scan.stderr")
    measure "$c.rescan" : "$LS" scan --db "$DB" "${LAYOUT[$c]}"
    RESCAN_LINE[$c]=$(tail -1 "$WORK/$c.rescan.stderr")
    if [ -n "${BLOB[$c]:-}" ]; then
        # the tiered JIT off, as a published layerstats runs (see run.sh)
        measure "$c.limit" 'export DOTNET_TieredCompilation=0' "$BENCH" --limit "${LAYOUT[$c]}"
        unset DOTNET_TieredCompilation
        measure "$c.${TOOL[$c]}-sha256sum" : sh -c '"$1" -qdc "$2" | sha256sum' _ "${TOOL[$c]}" "${BLOB[$c]}"
    fi
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# helpers on the medians: the case's MB/s of tar, CPU / wall, a / b of two keys' medians
tar_bytes() { cut -f3 "${LAYOUT[$1]}/stats.tsv"; }
mbps() { awk -v b="$(tar_bytes "$1")" -v s="$2" 'BEGIN { printf "%.0f", b / 1e6 / s }'; }
cores() { awk -v c="${CPU[$1]}" -v w="${MEDIAN[$1]}" 'BEGIN { printf "%.2f", c / w }'; }
quot() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
pass() { awk -v v="$1" -v max="$2" 'BEGIN { print (v <= max) ? "PASS" : "FAIL" }'; }

{
    echo "# LayerStats: issue 5's large cases"
    machine_line
    echo "load average before / after: $LOAD_BEFORE / $LOAD_AFTER"
    echo "command: benchmarks/scan/large-cases.sh -n $N --only $ONLY --big-bytes $BIG_BYTES --file-bytes $FILE_BYTES --files $FILES --images $IMAGES --seed $SEED"
    echo "data ($WORK/data, $(du -sh "$WORK/data" | cut -f1) on disk; generated this run: ${GENERATED[*]:-none}):"
    for name in big-layer big-file many-files many-images; do
        [ -f "$WORK/data/$name/.made" ] && echo "  $(cat "$WORK/data/$name/.made")"
    done
    for c in "${CASES[@]}"; do
        read -r images layers tar blob < "${LAYOUT[$c]}/stats.tsv"
        extra=""
        case "$c" in
            big-layer*) extra=$(awk -F'\t' 'NR == 2 { printf ", %d tar entries, %d files", $2, $3 }' "$WORK/data/big-layer/layer.tsv") ;;
        esac
        printf '  %-15s %d image(s), %d distinct layer(s), tar %d bytes (%.0f MB), compressed %d (%.2fx)%s\n' "$c" \
            "$images" "$layers" "$tar" "$(awk -v t="$tar" 'BEGIN { print t / 1e6 }')" "$blob" \
            "$(awk -v t="$tar" -v b="$blob" 'BEGIN { print t / b }')" "$extra"
        echo "  ${c}: scan:   ${SCAN_LINE[$c]}"
        echo "  ${c}: rescan: ${RESCAN_LINE[$c]}"
    done
    echo
    printf '| %-30s | %8s | %8s | %10s | %6s | %5s | %7s | %7s |\n' "run (N=$N)" "median s" "best s" "MB/s (med)" "cpu s" \
        "cores" "own s" "RSS MiB"
    printf '|%s|%s|%s|%s|%s|%s|%s|%s|\n' "--------------------------------" "---------:" "---------:" "-----------:" "-------:" \
        "------:" "--------:" "--------:"
    for c in "${CASES[@]}"; do
        for key in "$c.scan" "$c.rescan" "$c.limit" "$c.${TOOL[$c]:-}-sha256sum"; do
            [ -n "${MEDIAN[$key]:-}" ] || continue
            case "$key" in *.rescan) rate=- ;; *) rate=$(mbps "$c" "${MEDIAN[$key]}") ;; esac
            printf '| %-30s | %8s | %8s | %10s | %6s | %5s | %7s | %7s |\n' "$key" "${MEDIAN[$key]}" "${BEST[$key]}" "$rate" \
                "${CPU[$key]}" "$(cores "$key")" "${OWN[$key]:--}" "$(mib "$key")"
        done
    done
    echo
    printf '| %-15s | %-56s | %-70s | %-4s |\n' case target measured met
    printf '|%s|%s|%s|%s|\n' "-----------------" "----------------------------------------------------------" \
        "------------------------------------------------------------------------" "------"
    for c in "${CASES[@]}"; do
        scan_rss=${RSS[$c.scan]} rescan_rss=${RSS[$c.rescan]}
        peak=$((scan_rss > rescan_rss ? scan_rss : rescan_rss))
        printf '| %-15s | %-56s | %-70s | %-4s |\n' "$c" "peak RSS <= 256 MiB (262144 KiB), scan and rescan" \
            "$peak KiB ($(awk -v k="$peak" 'BEGIN { printf "%.0f", k / 1024 }') MiB; scan $(mib "$c.scan"), rescan $(mib "$c.rescan"))" \
            "$(pass "$peak" 262144)"
        read_layers=$(sed -n 's/.*: \([0-9]*\) layer(s) read.*/\1/p' <<< "${RESCAN_LINE[$c]}")
        rescan=$(awk -v a="${OWN[$c.rescan]}" -v b="${OWN[$c.scan]}" 'BEGIN { printf "%.1f", 100 * a / b }')
        if [ "$read_layers" = 0 ]; then verdict=$(pass "$rescan" 3); else verdict=FAIL; fi
        printf '| %-15s | %-56s | %-70s | %-4s |\n' "$c" "unchanged rescan <= 3 % of the scan (own clock), 0 read" \
            "$rescan % (${OWN[$c.rescan]} s / ${OWN[$c.scan]} s), $read_layers layer(s) read" "$verdict"
        if [ -n "${BLOB[$c]:-}" ]; then
            limit=$(quot "${MEDIAN[$c.scan]}" "${MEDIAN[$c.limit]}")
            case "$c" in big-layer*) verdict=$(pass "$limit" 1.25) ;; *) verdict=- ;; esac
            printf '| %-15s | %-56s | %-70s | %-4s |\n' "$c" "scan >= 80 % of the kernel's speed: scan/limit <= 1.25" \
                "$limit (cpu $(quot "${CPU[$c.scan]}" "${CPU[$c.limit]}"); own clock ${OWN[$c.scan]} s, limit $(sed -n 's/.* \([0-9.]*\) s, .*/\1/p' "$WORK/$c.limit.stdout") s)" \
                "$verdict"
            printf '| %-15s | %-56s | %-70s | %-4s |\n' "$c" "both cores used (scan cpu / wall)" \
                "$(cores "$c.scan") (limit $(cores "$c.limit"), ${TOOL[$c]} -dc \\| sha256sum $(cores "$c.${TOOL[$c]}-sha256sum"))" -
            printf '| %-15s | %-56s | %-70s | %-4s |\n' "$c" "speed-up over ${TOOL[$c]} -dc \\| sha256sum (wall)" \
                "$(quot "${MEDIAN[$c.${TOOL[$c]}-sha256sum]}" "${MEDIAN[$c.scan]}")x (cpu $(quot "${CPU[$c.${TOOL[$c]}-sha256sum]}" "${CPU[$c.scan]}"))" -
        fi
    done
    echo
    echo "every run (key, run, wall s, cpu s, peak RSS KiB, own clock s): $RUNS"
} | tee "$OUT"
