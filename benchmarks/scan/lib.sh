# Helpers shared by benchmarks/scan/run.sh and large-cases.sh (sourced, not run). The caller sets N (runs per
# command), WORK (a scratch directory) and RUNS (the every-run TSV file, truncated by the caller); measure fills the
# arrays below, keyed by the measured command's key.
# shellcheck shell=bash

# shellcheck disable=SC2034 # read by the callers
declare -A MEDIAN BEST CPU RSS OWN

# require_tools HINT TOOL...: exits with a message (and HINT on what to install) unless every TOOL and GNU time are there.
require_tools() {
    local hint=$1 tool
    shift
    for tool in "$@"; do
        command -v "$tool" >/dev/null || { echo "missing tool: $tool${hint:+ ($hint)}" >&2; exit 1; }
    done
    [ -x /usr/bin/time ] || { echo "missing /usr/bin/time (GNU time): apt-get install -y time" >&2; exit 1; }
}

# median of the numbers on stdin
median() { sort -g | awk '{ v[NR] = $1 } END { printf "%.3f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# measure KEY PREPARE CMD...: runs CMD N times (PREPARE, eval'ed, before each); wall time from bash's clock, CPU
# time (user + system) and peak RSS from GNU time; keeps the median and best wall time, the median CPU time and
# the largest peak RSS. CMD's stdout and stderr (of the last run) are kept in WORK/KEY.stdout and WORK/KEY.stderr.
measure() {
    local key=$1 prep=$2
    shift 2
    local i t0 t1 rss user sys own
    for ((i = 1; i <= N; i++)); do
        eval "$prep"
        t0=$EPOCHREALTIME
        if ! /usr/bin/time -f "%M %U %S" -o "$WORK/time.out" "$@" > "$WORK/$key.stdout" 2> "$WORK/$key.stderr"; then
            echo "failed: $key: $*" >&2
            tail -5 "$WORK/$key.stderr" >&2
            exit 1
        fi
        t1=$EPOCHREALTIME
        read -r rss user sys < <(tail -1 "$WORK/time.out")
        # a scan's own clock ("scanned N image(s) in X s": from opening the database, process start excluded)
        own=$(sed -n 's/^scanned .* in \([0-9.]*\) s:.*/\1/p' "$WORK/$key.stderr" | tail -1)
        printf '%s\t%d\t%s\t%s\t%s\t%s\n' "$key" "$i" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')" \
            "$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')" "$rss" "${own:--}" >> "$RUNS"
    done
    MEDIAN[$key]=$(awk -F'\t' -v k="$key" '$1 == k { print $3 }' "$RUNS" | median)
    # shellcheck disable=SC2034 # read by the callers
    BEST[$key]=$(awk -F'\t' -v k="$key" '$1 == k { print $3 }' "$RUNS" | sort -g | head -1)
    CPU[$key]=$(awk -F'\t' -v k="$key" '$1 == k { print $4 }' "$RUNS" | median)
    RSS[$key]=$(awk -F'\t' -v k="$key" '$1 == k && $5 > m { m = $5 } END { print m + 0 }' "$RUNS")
    # shellcheck disable=SC2034 # read by the callers
    if awk -F'\t' -v k="$key" '$1 == k && $6 != "-" { found = 1 } END { exit !found }' "$RUNS"; then
        OWN[$key]=$(awk -F'\t' -v k="$key" '$1 == k && $6 != "-" { print $6 }' "$RUNS" | median)
    fi
    printf '  %-22s median %7.3f s, cpu %6.2f s  (runs: %s)\n' "$key" "${MEDIAN[$key]}" "${CPU[$key]}" \
        "$(awk -F'\t' -v k="$key" '$1 == k { printf "%s ", $3 }' "$RUNS")" >&2
}

# peak RSS of KEY's runs in MiB
mib() { awk -v k="${RSS[$1]}" 'BEGIN { printf "%.0f", k / 1024 }'; }

# the machine: cores, CPU, RAM, .NET SDK and the baseline tools' versions
machine_line() {
    echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(free -g | awk '/^Mem:/ { print $2 " GiB RAM" }'); $(dotnet --version 2>/dev/null | sed 's/^/.NET SDK /'); $(gzip --version | head -1); $(zstd --version | sed 's/.*\(v[0-9.]*\).*/zstd \1/'); $(sha256sum --version | head -1)"
}
