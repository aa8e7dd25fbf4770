#!/usr/bin/env bash
# Regenerates the bundled sample images byte-identically from the project's fixture builder
# (tests/LayerStats.Fixtures/Samples.cs). Run from anywhere: bash sample-data/make-samples.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
dotnet run --project "$root/tests/LayerStats.Fixtures" -c Release -- samples "$here/images"
