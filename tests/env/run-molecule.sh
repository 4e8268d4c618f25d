#!/usr/bin/env bash
# Run one molecule scenario (argument) or all of them, each with its full test
# sequence, and fail if any failed. Leaves no container behind either way.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root" || exit 1
export PATH="$root/.venv/bin:$PATH"
export ANSIBLE_HOME="$HOME/.ansible"
mkdir -p "$HOME"

if [ $# -gt 0 ] && [ -n "$1" ]; then
    scenarios=("$1")
else
    mapfile -t scenarios < <(find molecule -mindepth 2 -maxdepth 2 -name molecule.yml -printf '%h\n' | xargs -n1 basename | sort)
fi

failed=()
for s in "${scenarios[@]}"; do
    echo "=== molecule scenario: $s"
    start=$(date +%s)
    if molecule test -s "$s"; then
        echo "=== $s passed in $(( $(date +%s) - start )) s"
    else
        echo "=== $s FAILED after $(( $(date +%s) - start )) s"
        failed+=("$s")
        molecule destroy -s "$s" >/dev/null 2>&1 || true
    fi
done
echo "molecule: $(( ${#scenarios[@]} - ${#failed[@]} )) passed, ${#failed[@]} failed"
[ ${#failed[@]} -eq 0 ]
