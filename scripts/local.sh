#!/usr/bin/env bash
# Manage the local cloud started by `./scripts/deploy.sh local`:
#   ./scripts/local.sh status | logs [-f] | stop | invoke FUNCTION [-e EVENT_FILE|-] | env
# Thin entry point; the logic is scripts/localcloud/control.py.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ ! -x "$REPO/.venv/bin/python" ]]; then
  echo "local.sh: error: $REPO/.venv is missing: run scripts/bootstrap.sh" >&2
  exit 2
fi
export PYTHONPATH="$REPO/scripts${PYTHONPATH:+:$PYTHONPATH}"
exec "$REPO/.venv/bin/python" -m localcloud.control "$@"
