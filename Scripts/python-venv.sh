#!/usr/bin/env bash
# Create (idempotently) the Python virtualenv used by the compatibility tests
# and install Tests/Compat/requirements.txt into it.
#
# Usage: Scripts/python-venv.sh [VENV_DIR]
#   VENV_DIR defaults to .venv (relative to the repository root); a relative
#   path is taken relative to the repository root, not the current directory.
#
# The install is skipped when a stamp file in the venv shows that the
# requirements file is unchanged since the last successful install.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${1:-.venv}"
case "$venv" in
  /*) ;;
  *) venv="$repo_root/$venv" ;;
esac
requirements="$repo_root/Tests/Compat/requirements.txt"
stamp="$venv/.requirements.sha256"

if ! command -v python3 >/dev/null 2>&1; then
  echo "python-venv.sh: python3 not found; install it (Debian: apt-get install -y python3 python3-venv)" >&2
  exit 1
fi
if [ ! -f "$requirements" ]; then
  echo "python-venv.sh: missing $requirements" >&2
  exit 1
fi

# A venv is usable only when its python runs and has pip.
venv_ok() {
  [ -x "$venv/bin/python" ] && "$venv/bin/python" -m pip --version >/dev/null 2>&1
}

if ! venv_ok; then
  # A half-made venv (e.g. from a run without ensurepip) is recreated.
  rm -rf "$venv"
  if ! venv_log="$(python3 -m venv "$venv" 2>&1)"; then
    rm -rf "$venv"
    echo "$venv_log" >&2
    py_ver="$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo 3)"
    echo "python-venv.sh: 'python3 -m venv' failed (ensurepip is probably missing)." >&2
    echo "python-venv.sh: install the venv module: apt-get install -y python3-venv (or python${py_ver}-venv)" >&2
    exit 1
  fi
  if ! venv_ok; then
    rm -rf "$venv"
    echo "python-venv.sh: the new venv at $venv has no working pip; install python3-venv (apt-get install -y python3-venv)" >&2
    exit 1
  fi
fi

want="$(sha256sum "$requirements" | cut -d' ' -f1)"
have="$(cat "$stamp" 2>/dev/null || true)"
if [ "$want" = "$have" ]; then
  exit 0
fi

rm -f "$stamp"
export PIP_DISABLE_PIP_VERSION_CHECK=1
"$venv/bin/python" -m pip install --quiet --no-input -r "$requirements"
echo "$want" > "$stamp"
echo "python-venv.sh: installed $(basename "$requirements") into $venv"
