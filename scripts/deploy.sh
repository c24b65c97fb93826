#!/usr/bin/env bash
# Deploy one environment: ./scripts/deploy.sh <local|dev|staging|prod> [--tf-only|--sam-only] [--plan] [--yes] [--dry-run]
# Thin entry point: the toolchain check, then the tested Python module scripts/deploylib does the work.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -x "$REPO/scripts/bootstrap.sh" ]]; then
  # --sam-only deploys from the published contract: a machine (or CI job) without terraform can run it.
  no_terraform=()
  for arg in "$@"; do [[ "$arg" == "--sam-only" ]] && no_terraform=(--no-terraform); done
  "$REPO/scripts/bootstrap.sh" --quiet "${no_terraform[@]}"
fi
if [[ ! -x "$REPO/.venv/bin/python" ]]; then
  echo "deploy.sh: error: $REPO/.venv is missing: run scripts/bootstrap.sh" >&2
  exit 2
fi
export PYTHONPATH="$REPO/scripts${PYTHONPATH:+:$PYTHONPATH}"
exec "$REPO/.venv/bin/python" -m deploylib "$@"
