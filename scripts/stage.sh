#!/usr/bin/env bash
# Run one named stage of a pipeline and report how long it took: `scripts/stage.sh NAME CMD [ARGS...]`.
# pytest's exit 5 ("no tests collected") becomes a clear failure instead of a silent green.
set -uo pipefail
name="$1"; shift
start=$(date +%s.%N)
echo "==> [$name] $*"
"$@"
rc=$?
secs=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
if [[ $rc == 5 && "$(basename "$1")" == pytest ]]; then
  echo "<== [$name] FAILED: pytest collected no tests (${secs}s)" >&2
  exit 1
fi
if [[ $rc == 0 ]]; then echo "<== [$name] ok in ${secs}s"; else echo "<== [$name] FAILED (exit $rc) in ${secs}s" >&2; fi
exit $rc
