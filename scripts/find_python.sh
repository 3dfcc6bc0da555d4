#!/usr/bin/env bash
# Print the path of a Python >= 3.12 on this machine, or fail with a message saying how to get one.
set -euo pipefail
ok() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; }
candidates=()
[ -n "${CARRY_PYTHON:-}" ] && candidates+=("$CARRY_PYTHON")
for name in python3.14 python3.13 python3.12 python3 python; do
    p=$(command -v "$name" 2>/dev/null) && candidates+=("$p")
done
pyenv_root="${PYENV_ROOT:-$HOME/.pyenv}"
for p in "$pyenv_root"/versions/3.1[2-9]*/bin/python3; do
    [ -x "$p" ] && candidates+=("$p")
done
for p in "${candidates[@]}"; do
    if ok "$p"; then echo "$p"; exit 0; fi
done
echo "carry needs Python >= 3.12 and found none (looked at PATH and $pyenv_root/versions)." >&2
echo "Install one (e.g. 'pyenv install 3.12') or point CARRY_PYTHON at it." >&2
exit 1
