#!/usr/bin/env bash
# Runs every test: the .NET suite (unit, end-to-end on real archives and a real registry, interop with skopeo/umoci) and the
# reference implementation's own self-test. Installs the Debian tools the tests use when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for tool in skopeo:skopeo umoci:umoci docker-registry:docker-registry htpasswd:apache2-utils zstd:zstd gzip:gzip tar:tar python3:python3 chromium:chromium; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || missing+=("${tool##*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing: ${missing[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "missing tools: ${missing[*]} (install them with apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
dotnet test LayerStats.sln -c Release 2>&1 | tee "$log"
dotnet_rc=${PIPESTATUS[0]}
python3 -m unittest discover -s tools/reference -p 'test_*.py' 2>&1 | tee -a "$log"
py_rc=${PIPESTATUS[0]}
set -e

passed=$(grep -Eo 'Passed: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
failed=$(grep -Eo 'Failed: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
py_ran=$(grep -Eo '^Ran [0-9]+ test' "$log" | awk '{s+=$2} END {print s+0}')
if [ "$py_rc" = 0 ]; then passed=$((passed + py_ran)); else failed=$((failed + 1)); fi
echo "tests: $passed passed, $failed failed"
[ "$dotnet_rc" = 0 ] && [ "$py_rc" = 0 ]
