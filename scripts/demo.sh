#!/usr/bin/env bash
# The offline demo: installs what vidgen needs, builds it, and makes a
# narrated video from recorded model answers (no keys, no network).
#   scripts/demo.sh ["another recorded question"]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
question=${1:-"Explain the Pythagorean theorem with visual proof"}
scripts/install-deps.sh
dir=$(scripts/build.sh release)
out=${VIDGEN_DEMO_OUT:-$top/out}
mkdir -p "$out"
"$dir/vidgen" run -p pipelines/demo.cfg -o "$out/jobs" "$question"
