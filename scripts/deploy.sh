#!/usr/bin/env bash
# Deploy one environment: ./scripts/deploy.sh <local|dev|staging|prod> [--tf-only|--sam-only] [--plan] [--yes] [--dry-run]
# Thin entry point: the toolchain check, then the tested Python module scripts/deploylib does the work.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -x "$REPO/scripts/bootstrap.sh" ]]; then
  "$REPO/scripts/bootstrap.sh" --quiet
fi
if [[ ! -x "$REPO/.venv/bin/python" ]]; then
  echo "deploy.sh: error: $REPO/.venv is missing: run scripts/bootstrap.sh" >&2
  exit 2
fi
export PYTHONPATH="$REPO/scripts${PYTHONPATH:+:$PYTHONPATH}"
exec "$REPO/.venv/bin/python" -m deploylib "$@"
